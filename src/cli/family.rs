//! Arguments that choose a model family, shared by `size` and `bundle example`.

use clap::Args;
use unibit_core::{Family, FamilyConfig};

#[derive(Args)]
pub struct FamilyArgs {
    /// Model family: resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2.
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    /// Channel counts are rounded to a multiple of this.
    #[arg(long, default_value_t = unibit_core::family::DEFAULT_CHANNEL_MULTIPLE, value_parser = super::args::count_at_least_1)]
    pub channel_multiple: usize,
}

impl FamilyArgs {
    pub fn config(&self, width: f64) -> FamilyConfig {
        FamilyConfig {
            channel_multiple: self.channel_multiple,
            ..FamilyConfig::fashion_mnist(self.family, width)
        }
    }
}
