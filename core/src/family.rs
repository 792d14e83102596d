//! Model families as data: channel plans scaled by a width multiplier, built into [`Graph`]s.
//! The trainer builds its tch networks from these graphs, so software, size accounting and
//! hardware all see the same layers.

use crate::error::{Error, Result};
use crate::graph::{Graph, Node, Op, Shape, INPUT};
use serde::{Deserialize, Serialize};

/// A model family. Parse with `"resnet20".parse()`, `"vgg-small"`, `"mobilenetv2"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Family {
    /// CIFAR-style ResNet of depth `6n + 2` (basic blocks, 1×1 projection shortcuts).
    ResNet { depth: usize },
    /// Small VGG: 3 stages of two 3×3 convs and a 2×2 max pool, then flatten and linear.
    VggSmall,
    /// Small MobileNetV2: inverted residuals with depthwise 3×3 convs and linear bottlenecks.
    MobileNetV2,
}

/// Deepest ResNet built (ResNet-1202 is the deepest of the CIFAR ResNet paper).
pub const MAX_RESNET_DEPTH: usize = 1202;

pub const FAMILY_NAMES: &str = "resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2";

impl std::str::FromStr for Family {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let bad = || Error::invalid("family", FAMILY_NAMES, format!("{s:?}"));
        match s.as_str() {
            "vgg-small" | "vgg_small" | "vgg" => Ok(Family::VggSmall),
            "mobilenetv2" | "mobilenet-v2" | "mbv2" => Ok(Family::MobileNetV2),
            _ => {
                let depth: usize = s
                    .strip_prefix("resnet")
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if !(8..=MAX_RESNET_DEPTH).contains(&depth) || !(depth - 2).is_multiple_of(6) {
                    return Err(Error::invalid(
                        "family",
                        format!("resnet depth 6n+2 in 8..={MAX_RESNET_DEPTH} (8, 14, 20, 32, …)"),
                        depth,
                    ));
                }
                Ok(Family::ResNet { depth })
            }
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Family::ResNet { depth } => write!(f, "resnet{depth}"),
            Family::VggSmall => write!(f, "vgg-small"),
            Family::MobileNetV2 => write!(f, "mobilenetv2"),
        }
    }
}
impl From<Family> for String {
    fn from(f: Family) -> String {
        f.to_string()
    }
}
impl TryFrom<String> for Family {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// Base channel plans (width 1.0).
pub mod plans {
    /// ResNet stem and stage widths.
    pub const RESNET_STEM: usize = 16;
    pub const RESNET_STAGES: [usize; 3] = [16, 32, 64];
    /// VGG-small: convs per stage share a width; each stage ends in a 2×2 max pool.
    pub const VGG_STAGES: [usize; 3] = [32, 64, 128];
    /// MobileNetV2-small: stem, then (expansion t, channels c, repeats n, first stride s), then head.
    pub const MBV2_STEM: usize = 16;
    pub const MBV2_BLOCKS: [(usize, usize, usize, usize); 4] =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 1)];
    pub const MBV2_HEAD: usize = 256;
}

/// Everything that fixes a family's graph.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyConfig {
    pub family: Family,
    /// Width multiplier applied to every channel count.
    pub width: f64,
    /// Channel counts are rounded to a multiple of this (e.g. the array's rows).
    pub channel_multiple: usize,
    pub input: Shape,
    pub classes: usize,
}

pub const DEFAULT_CHANNEL_MULTIPLE: usize = 4;

impl FamilyConfig {
    /// Fashion-MNIST defaults: 1×28×28 input, 10 classes.
    pub fn fashion_mnist(family: Family, width: f64) -> Self {
        FamilyConfig {
            family,
            width,
            channel_multiple: DEFAULT_CHANNEL_MULTIPLE,
            input: Shape::new(1, 28, 28),
            classes: 10,
        }
    }

    /// `max(m, round_half_up(base·w / m)·m)`.
    pub fn channels(&self, base: usize) -> usize {
        round_channels(base, self.width, self.channel_multiple)
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= 64.0) {
            return Err(Error::invalid(
                "width",
                "a multiplier in (0, 64]",
                self.width,
            ));
        }
        if self.channel_multiple == 0 || self.channel_multiple > 256 {
            return Err(Error::invalid(
                "channel_multiple",
                "1..=256",
                self.channel_multiple,
            ));
        }
        if self.classes == 0 {
            return Err(Error::invalid("classes", "≥ 1", 0));
        }
        Ok(())
    }

    /// The family's graph at this width, validated.
    pub fn build(&self) -> Result<Graph> {
        self.validate()?;
        let mut b = Builder::new(self.input);
        match self.family {
            Family::ResNet { depth } => resnet(&mut b, self, (depth - 2) / 6),
            Family::VggSmall => vgg_small(&mut b, self),
            Family::MobileNetV2 => mobilenet_v2(&mut b, self),
        }
        let g = Graph {
            input: self.input,
            nodes: b.nodes,
        };
        g.infer()?;
        Ok(g)
    }
}

/// Channel rounding shared by every family: `max(m, round_half_up(base·w / m)·m)`.
pub fn round_channels(base: usize, width: f64, multiple: usize) -> usize {
    let m = multiple.max(1);
    let units = (base as f64 * width / m as f64 + 0.5).floor() as usize;
    units.max(1) * m
}

struct Builder {
    nodes: Vec<Node>,
    shapes: Vec<(String, Shape)>,
    input: Shape,
}

impl Builder {
    fn new(input: Shape) -> Self {
        Builder {
            nodes: vec![],
            shapes: vec![],
            input,
        }
    }
    fn channels_of(&self, name: &str) -> usize {
        if name == INPUT {
            return self.input.c;
        }
        self.shapes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.c)
            .unwrap()
    }
    fn push(
        &mut self,
        name: String,
        op: Op,
        inputs: Vec<String>,
        relu: bool,
        out_c: usize,
    ) -> String {
        self.shapes.push((name.clone(), Shape::new(out_c, 0, 0)));
        self.nodes.push(Node {
            name: name.clone(),
            op,
            inputs,
            relu,
        });
        name
    }
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        x: &str,
        out: usize,
        k: usize,
        stride: usize,
        groups: usize,
        relu: bool,
    ) -> String {
        let cin = self.channels_of(x);
        let op = Op::Conv2d {
            in_channels: cin,
            out_channels: out,
            kernel: k,
            stride,
            padding: k / 2,
            groups,
            batch_norm: true,
        };
        self.push(name.into(), op, vec![x.into()], relu, out)
    }
    fn add(&mut self, name: &str, a: &str, b: &str, relu: bool) -> String {
        let c = self.channels_of(a);
        self.push(name.into(), Op::Add, vec![a.into(), b.into()], relu, c)
    }
    fn simple(&mut self, name: &str, op: Op, x: &str, c: usize) -> String {
        self.push(name.into(), op, vec![x.into()], false, c)
    }
    fn linear(&mut self, name: &str, x: &str, in_features: usize, out: usize) -> String {
        let op = Op::Linear {
            in_features,
            out_features: out,
        };
        self.push(name.into(), op, vec![x.into()], false, out)
    }
}

fn resnet(b: &mut Builder, cfg: &FamilyConfig, n: usize) {
    let mut x = b.conv(
        "stem",
        INPUT,
        cfg.channels(plans::RESNET_STEM),
        3,
        1,
        1,
        true,
    );
    for (s, &base) in plans::RESNET_STAGES.iter().enumerate() {
        let c = cfg.channels(base);
        for i in 0..n {
            let stride = if s > 0 && i == 0 { 2 } else { 1 };
            let p = format!("s{}b{}", s + 1, i + 1);
            let h = b.conv(&format!("{p}.conv1"), &x, c, 3, stride, 1, true);
            let h = b.conv(&format!("{p}.conv2"), &h, c, 3, 1, 1, false);
            let short = if stride != 1 || b.channels_of(&x) != c {
                b.conv(&format!("{p}.shortcut"), &x, c, 1, stride, 1, false)
            } else {
                x.clone()
            };
            x = b.add(&format!("{p}.add"), &h, &short, true);
        }
    }
    let c = b.channels_of(&x);
    let x = b.simple("pool", Op::GlobalAvgPool, &x, c);
    b.linear("fc", &x, c, cfg.classes);
}

fn vgg_small(b: &mut Builder, cfg: &FamilyConfig) {
    let mut x = INPUT.to_string();
    let (mut h, mut w) = (cfg.input.h, cfg.input.w);
    for (s, &base) in plans::VGG_STAGES.iter().enumerate() {
        let c = cfg.channels(base);
        x = b.conv(&format!("s{}.conv1", s + 1), &x, c, 3, 1, 1, true);
        x = b.conv(&format!("s{}.conv2", s + 1), &x, c, 3, 1, 1, true);
        x = b.simple(
            &format!("s{}.pool", s + 1),
            Op::MaxPool {
                kernel: 2,
                stride: 2,
            },
            &x,
            c,
        );
        h /= 2;
        w /= 2;
    }
    let c = b.channels_of(&x);
    let x = b.simple("flatten", Op::Flatten, &x, c * h * w);
    b.linear("fc", &x, c * h * w, cfg.classes);
}

fn mobilenet_v2(b: &mut Builder, cfg: &FamilyConfig) {
    let mut x = b.conv("stem", INPUT, cfg.channels(plans::MBV2_STEM), 3, 1, 1, true);
    for (s, &(t, base, n, first_stride)) in plans::MBV2_BLOCKS.iter().enumerate() {
        let c = cfg.channels(base);
        for i in 0..n {
            let stride = if i == 0 { first_stride } else { 1 };
            let p = format!("b{}.{}", s + 1, i + 1);
            let cin = b.channels_of(&x);
            let hidden = cin * t;
            let mut h = x.clone();
            if t != 1 {
                h = b.conv(&format!("{p}.expand"), &h, hidden, 1, 1, 1, true);
            }
            h = b.conv(&format!("{p}.dw"), &h, hidden, 3, stride, hidden, true);
            h = b.conv(&format!("{p}.project"), &h, c, 1, 1, 1, false);
            x = if stride == 1 && cin == c {
                b.add(&format!("{p}.add"), &h, &x, false)
            } else {
                h
            };
        }
    }
    let x = b.conv("head", &x, cfg.channels(plans::MBV2_HEAD), 1, 1, 1, true);
    let c = b.channels_of(&x);
    let x = b.simple("pool", Op::GlobalAvgPool, &x, c);
    b.linear("fc", &x, c, cfg.classes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet20_at_width_1_has_the_usual_size() {
        let g = FamilyConfig::fashion_mnist("resnet20".parse().unwrap(), 1.0)
            .build()
            .unwrap();
        let convs = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Conv2d { .. }))
            .count();
        assert_eq!(convs, 19 + 2); // 19 3×3 convs + 2 projection shortcuts
                                   // ≈ 0.27 M parameters for CIFAR ResNet-20; ours has 1 input channel and 1×1 shortcuts.
        let p = g.weight_count();
        assert!((260_000..290_000).contains(&p), "{p}");
    }

    #[test]
    fn all_families_build_at_several_widths() {
        for f in ["resnet8", "resnet20", "vgg-small", "mobilenetv2"] {
            for w in [0.25, 0.5, 1.0, 2.0] {
                let g = FamilyConfig::fashion_mnist(f.parse().unwrap(), w)
                    .build()
                    .unwrap();
                let t = g.infer().unwrap();
                assert_eq!(t.last().unwrap().shape, Shape::new(10, 1, 1), "{f} {w}");
            }
        }
    }

    #[test]
    fn mobilenet_has_depthwise_layers() {
        let g = FamilyConfig::fashion_mnist(Family::MobileNetV2, 1.0)
            .build()
            .unwrap();
        assert!(g.nodes.iter().any(|n| matches!(n.op, Op::Conv2d { groups, in_channels, .. } if groups == in_channels && groups > 1)));
    }

    #[test]
    fn bad_family_names() {
        for s in ["resnet21", "resnet", "lenet", "resnet2"] {
            let e = s.parse::<Family>().unwrap_err().to_string();
            assert!(e.contains("family"), "{e}");
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(round_channels(16, 1.0, 4), 16);
        assert_eq!(round_channels(16, 0.1, 4), 4);
        assert_eq!(round_channels(16, 0.375, 4), 8); // 1.5 units → 2
        assert_eq!(round_channels(64, 0.34, 8), 24);
    }
}
