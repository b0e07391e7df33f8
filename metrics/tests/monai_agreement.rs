//! Values agree with MONAI 1.6 and medpy on committed fixtures (tests/fixtures/, with the
//! script that made them): Dice and IoU within 1e-6, HD/HD95/ASSD within 1e-3 mm, losses
//! within 1e-5 relative, loss gradients within 1e-5 absolute of torch's autograd.

use brats_metrics::distance::{surface_distances, Hd95, Spacing};
use brats_metrics::loss::{
    Background, Denominator, DiceFocalConfig, DiceLossConfig, DiceReduction, FocalLossConfig,
    Probabilities, Target,
};
use brats_metrics::{Confusion, EmptyPolicy};
use candle_core::{Device, Tensor, Var};
use ndarray::Array3;
use serde::Deserialize;

#[derive(Deserialize)]
struct MaskCase {
    shape: [usize; 3],
    spacing: [f64; 3],
    pred: Vec<u8>,
    truth: Vec<u8>,
    dice: f64,
    iou: f64,
    hd: f64,
    hd95: f64,
    assd: f64,
    medpy_hd95: f64,
    medpy_assd: f64,
}

#[derive(Deserialize)]
struct LossCase {
    name: String,
    value: f64,
    grad: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct Losses {
    shape: [usize; 5],
    logits: Vec<f32>,
    labels: Vec<i64>,
    region_logits: Vec<f32>,
    regions: Vec<f32>,
    cases: Vec<LossCase>,
}

#[derive(Deserialize)]
struct Reference {
    masks: Vec<MaskCase>,
    losses: Losses,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/monai_reference.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn overlap_and_surface_metrics_match_monai_and_medpy() {
    for (n, c) in reference().masks.iter().enumerate() {
        let p = Array3::from_shape_vec(c.shape, c.pred.iter().map(|&v| v != 0).collect()).unwrap();
        let t = Array3::from_shape_vec(c.shape, c.truth.iter().map(|&v| v != 0).collect()).unwrap();
        let conf = Confusion::from_masks(p.view(), t.view()).unwrap();
        assert!(
            (conf.dice(EmptyPolicy::Brats2023) - c.dice).abs() < 1e-6,
            "case {n} dice"
        );
        assert!(
            (conf.iou(EmptyPolicy::Brats2023) - c.iou).abs() < 1e-6,
            "case {n} iou"
        );
        let d = surface_distances(p.view(), t.view(), Spacing::new(c.spacing).unwrap())
            .unwrap()
            .unwrap();
        assert!(
            (d.hausdorff() - c.hd).abs() < 1e-3,
            "case {n} hd {} vs {}",
            d.hausdorff(),
            c.hd
        );
        assert!(
            (d.hd95(Hd95::MaxOfDirected) - c.hd95).abs() < 1e-3,
            "case {n} hd95 {} vs {}",
            d.hd95(Hd95::MaxOfDirected),
            c.hd95
        );
        assert!(
            (d.assd() - c.assd).abs() < 1e-3,
            "case {n} assd {} vs {}",
            d.assd(),
            c.assd
        );
        assert!(
            (d.hd95(Hd95::Pooled) - c.medpy_hd95).abs() < 1e-3,
            "case {n} medpy hd95 {} vs {}",
            d.hd95(Hd95::Pooled),
            c.medpy_hd95
        );
        assert!(
            (d.assd() - c.medpy_assd).abs() < 1e-3,
            "case {n} medpy assd"
        );
    }
}

type LossFn = Box<dyn Fn(&Tensor, Target<'_>) -> brats_metrics::Result<Tensor>>;

fn loss_by_name(name: &str) -> LossFn {
    let parse = |key: &str| name.contains(key);
    if name.starts_with("dice_softmax") {
        let cfg = DiceLossConfig {
            background: if parse("bg0") {
                Background::Exclude
            } else {
                Background::Include
            },
            reduction: if parse("batch1") {
                DiceReduction::Batch
            } else {
                DiceReduction::PerSample
            },
            denominator: if parse("sq1") {
                Denominator::Squared
            } else {
                Denominator::Linear
            },
            ..Default::default()
        }
        .check()
        .unwrap();
        return Box::new(move |x, t| cfg.forward(x, t));
    }
    match name {
        "dice_sigmoid_regions" => {
            let cfg = DiceLossConfig {
                activation: Probabilities::Sigmoid,
                ..Default::default()
            }
            .check()
            .unwrap();
            Box::new(move |x, t| cfg.forward(x, t))
        }
        "focal_softmax_g2" | "focal_softmax_g2_a025" | "focal_softmax_g0" => {
            let cfg = FocalLossConfig {
                gamma: if parse("g0") { 0.0 } else { 2.0 },
                alpha: parse("a025").then_some(0.25),
                ..Default::default()
            }
            .check()
            .unwrap();
            Box::new(move |x, t| cfg.forward(x, t))
        }
        "focal_sigmoid_regions_g2" | "focal_sigmoid_regions_g2_a025" => {
            let cfg = FocalLossConfig {
                activation: Probabilities::Sigmoid,
                alpha: parse("a025").then_some(0.25),
                ..Default::default()
            }
            .check()
            .unwrap();
            Box::new(move |x, t| cfg.forward(x, t))
        }
        "dicefocal_softmax_monai" => {
            // MONAI's DiceFocalLoss pairs softmax Dice with the sigmoid focal form.
            let cfg = DiceFocalConfig {
                focal: FocalLossConfig {
                    activation: Probabilities::Sigmoid,
                    ..Default::default()
                },
                ..Default::default()
            }
            .check()
            .unwrap();
            Box::new(move |x, t| cfg.forward(x, t))
        }
        "dicefocal_sigmoid_regions" => {
            let cfg = DiceFocalConfig {
                dice: DiceLossConfig {
                    activation: Probabilities::Sigmoid,
                    ..Default::default()
                },
                focal: FocalLossConfig {
                    activation: Probabilities::Sigmoid,
                    ..Default::default()
                },
                lambda_dice: 0.7,
                lambda_focal: 1.3,
            }
            .check()
            .unwrap();
            Box::new(move |x, t| cfg.forward(x, t))
        }
        other => panic!("no mapping for fixture {other}"),
    }
}

#[test]
fn losses_and_gradients_match_monai() {
    let r = reference().losses;
    let dev = Device::Cpu;
    let [b, c, d, h, w] = r.shape;
    let logits = Tensor::from_vec(r.logits.clone(), (b, c, d, h, w), &dev).unwrap();
    let labels = Tensor::from_vec(r.labels.clone(), (b, d, h, w), &dev).unwrap();
    let region_logits = Tensor::from_vec(r.region_logits.clone(), (b, 3, d, h, w), &dev).unwrap();
    let regions = Tensor::from_vec(r.regions.clone(), (b, 3, d, h, w), &dev).unwrap();
    assert_eq!(r.cases.len(), 16);
    for case in &r.cases {
        let f = loss_by_name(&case.name);
        let is_regions = case.name.contains("regions");
        let x = Var::from_tensor(if is_regions { &region_logits } else { &logits }).unwrap();
        let target = if is_regions {
            Target::OneHot(&regions)
        } else {
            Target::Indices(&labels)
        };
        let loss = f(x.as_tensor(), target).unwrap();
        let value = f64::from(loss.to_scalar::<f32>().unwrap());
        assert!(
            (value - case.value).abs() <= 1e-5 * case.value.abs().max(1.0),
            "{}: {value} vs MONAI {}",
            case.name,
            case.value
        );
        if let Some(expected) = &case.grad {
            let grads = loss.backward().unwrap();
            let g = grads
                .get(x.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(g.len(), expected.len());
            let worst = g
                .iter()
                .zip(expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-5,
                "{}: gradient differs from torch by up to {worst}",
                case.name
            );
        }
    }
}
