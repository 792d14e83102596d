//! A software board: [`crate::device::Backend`] over `unibit_core::engine::Machine`, the
//! memory-level model of the engine (bit-exact and cycle-counting, not the RTL). Its memories
//! are the ones a bitstream of the same [`Target`] has: main memory as [`MEM_MAIN`], the
//! loader registers as [`MEM_REGS`]. RUN loads the image the way docs/engine.md's image loader
//! does (into the input buffer the registers name), runs the program found in main memory
//! from descriptor 0 to `End`, and answers the logits and the cycle count.

use crate::device::Backend;
use crate::error::Result;
use crate::protocol::{Info, Memory, RunResult, Status, VERSION};
use crate::target::{Registers, Target, MEM_MAIN, MEM_REGS, REGS_BYTES};
use unibit_core::engine::compile::MemoryMap;
use unibit_core::engine::{configure, Machine, MemoryConfig, Plan, Program};

/// The engine's memories and the model of its sequencer.
pub struct ModelBoard {
    target: Target,
    config: MemoryConfig,
    config_hash: [u8; 8],
    baud: u32,
    main: Vec<u8>,
    regs: Vec<u8>,
}

impl ModelBoard {
    /// A board of `target` talking at `baud`; memories cleared.
    pub fn new(target: Target, baud: u32) -> Result<Self> {
        let config = configure(&target.shape, &target.memories)?;
        let config_hash = target.config_hash()?;
        Ok(ModelBoard {
            main: vec![0; config.main.bytes() as usize],
            regs: vec![0; REGS_BYTES],
            target,
            config,
            config_hash,
            baud,
        })
    }

    /// The baud rate INFO reports.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    fn memory(&mut self, mem: u8) -> std::result::Result<&mut Vec<u8>, Status> {
        match mem {
            MEM_MAIN => Ok(&mut self.main),
            MEM_REGS => Ok(&mut self.regs),
            _ => Err(Status::BadArgs),
        }
    }

    /// A `Machine` over the current memories: the registers give the input and output
    /// buffers; the program is whatever main memory holds.
    fn machine(&self) -> std::result::Result<Machine, Status> {
        let regs = Registers::decode(&self.regs).ok_or(Status::NoModel)?;
        let image = self
            .main
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let plan = Plan {
            shape: self.target.shape,
            config: self.config.clone(),
            tensors: vec![regs.input, regs.output],
            layers: vec![],
            program_words: 0,
            weights_base: 0,
            weights_words: 0,
            slots: vec![],
            main_words: self.config.main.depth,
            max_tile_planes: 0,
        };
        let program = Program {
            plan,
            descriptors: vec![],
            image,
            map: MemoryMap {
                buffers: vec![],
                memories: vec![],
            },
        };
        Ok(Machine::new(&program))
    }
}

impl Backend for ModelBoard {
    fn info(&self) -> Info {
        Info {
            version: VERSION,
            bits: self.target.shape.bits.get(),
            rows: self.target.shape.rows as u16,
            cols: self.target.shape.cols as u16,
            clock_hz: self.target.clock_hz,
            baud: self.baud,
            memories: vec![
                Memory {
                    id: MEM_MAIN,
                    bytes: self.main.len() as u32,
                },
                Memory {
                    id: MEM_REGS,
                    bytes: REGS_BYTES as u32,
                },
            ],
            config_hash: self.config_hash,
            model_id: [0; 8],
        }
    }

    fn write(&mut self, mem: u8, addr: u32, data: &[u8]) -> std::result::Result<(), Status> {
        let m = self.memory(mem)?;
        let a = addr as usize;
        m.get_mut(a..a + data.len())
            .ok_or(Status::BadArgs)?
            .copy_from_slice(data);
        Ok(())
    }

    fn read(&mut self, mem: u8, addr: u32, len: usize) -> std::result::Result<Vec<u8>, Status> {
        let m = self.memory(mem)?;
        let a = addr as usize;
        Ok(m.get(a..a + len).ok_or(Status::BadArgs)?.to_vec())
    }

    /// The image loader, then `start` … `End`; main memory keeps the activations afterwards
    /// (as on the board, the host may read any buffer back).
    fn run(&mut self, image: &[u8]) -> std::result::Result<RunResult, Status> {
        let mut m = self.machine()?;
        m.load_image(image).map_err(|_| Status::BadArgs)?;
        let run = m.run().map_err(|_| Status::EngineFault)?;
        for (dst, d) in self.main.chunks_exact_mut(8).zip(&m.main) {
            dst.copy_from_slice(&d.to_le_bytes());
        }
        Ok(RunResult {
            cycles: run.cycles,
            logits: run.logits,
        })
    }
}
