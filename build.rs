//! With the `train` feature, embed an rpath to libtorch's lib directory in the `unibit` binary
//! (and its test executables) so it runs without LD_LIBRARY_PATH. torch-sys (links = "tch")
//! exports the directory as DEP_TCH_LIBTORCH_LIB to packages that depend on it directly.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
