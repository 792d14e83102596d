fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (b, r, c): (u8, usize, usize) = (
        a[1].parse().unwrap(),
        a[2].parse().unwrap(),
        a[3].parse().unwrap(),
    );
    print!("{}", unibit_hw::engine_verilog(b, r, c).unwrap());
}
