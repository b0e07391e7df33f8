//! The run's history: a line per epoch, and `history.csv`, `history.json`, `history.png`.

use std::path::Path;

use brats_io::render::{line_chart, Canvas, Rgb, Series};
use brats_io::{atomic_write, atomic_write_bytes};

use crate::checkpoint::EpochRecord;
use crate::error::{Error, Result};

pub(crate) fn describe(r: &EpochRecord) -> String {
    let mut val = r.val_dice.map_or(String::new(), |v| {
        format!("  val Dice WT {:.3} TC {:.3} ET {:.3}", v[0], v[1], v[2])
    });
    if !r.val_groups.is_empty() {
        let groups: Vec<String> = r
            .val_groups
            .iter()
            .map(|g| {
                format!(
                    "{} {}: WT {:.3} TC {:.3} ET {:.3}",
                    g.group, g.cases, g.dice[0], g.dice[1], g.dice[2]
                )
            })
            .collect();
        val.push_str(&format!(" ({})", groups.join("; ")));
    }
    format!(
        "epoch {:>3}  loss {:.4}  lr {:.2e}  {:.0} s{val}",
        r.epoch, r.train_loss, r.lr, r.elapsed_s
    )
}

/// Writes `history.csv`, `history.json` and `history.png` (loss and validation Dice per
/// epoch) into `dir`, each atomically.
///
/// # Errors
/// File errors naming the file.
pub fn write_history(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    atomic_write(&dir.join("history.csv"), |w| {
        let mut out = csv::Writer::from_writer(w);
        out.write_record([
            "epoch",
            "iteration",
            "train_loss",
            "lr",
            "val_dice_wt",
            "val_dice_tc",
            "val_dice_et",
            "elapsed_s",
        ])?;
        for r in history {
            let v = r
                .val_dice
                .map_or([String::new(), String::new(), String::new()], |v| {
                    v.map(|x| format!("{x:.6}"))
                });
            out.write_record([
                r.epoch.to_string(),
                r.iteration.to_string(),
                format!("{:.6}", r.train_loss),
                format!("{:.6e}", r.lr),
                v[0].clone(),
                v[1].clone(),
                v[2].clone(),
                format!("{:.1}", r.elapsed_s),
            ])?;
        }
        out.flush()
    })?;
    let json = serde_json::to_string_pretty(history).map_err(|e| Error::File {
        path: dir.join("history.json"),
        message: e.to_string(),
    })?;
    atomic_write_bytes(&dir.join("history.json"), json.as_bytes())?;
    let loss = line_chart(
        "training loss",
        "epoch",
        &[Series {
            label: "loss",
            colour: Rgb(31, 119, 180),
            points: history
                .iter()
                .map(|r| (r.epoch as f64, r.train_loss))
                .collect(),
        }],
        None,
        (640, 260),
    );
    let colours = [Rgb(44, 160, 44), Rgb(255, 127, 14), Rgb(214, 39, 40)];
    let dice_series: Vec<Series<'_>> = ["WT", "TC", "ET"]
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            label: name,
            colour: colours[i],
            points: history
                .iter()
                .filter_map(|r| r.val_dice.map(|v| (r.epoch as f64, v[i])))
                .collect(),
        })
        .collect();
    let dice = line_chart(
        "validation Dice",
        "epoch",
        &dice_series,
        Some((0.0, 1.0)),
        (640, 260),
    );
    let mut c = Canvas::new(640, 520, Rgb::WHITE);
    c.blit(&loss, 0, 0);
    c.blit(&dice, 0, 260);
    c.write_png(dir.join("history.png"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::GroupDice;

    fn record(val_groups: Vec<GroupDice>) -> EpochRecord {
        EpochRecord {
            epoch: 3,
            iteration: 300,
            train_loss: 0.41,
            lr: 1e-4,
            val_dice: Some([0.5, 0.6, 0.7]),
            val_groups,
            elapsed_s: 12.0,
        }
    }

    #[test]
    fn the_epoch_line_shows_each_validation_group() {
        let line = describe(&record(Vec::new()));
        assert!(
            line.ends_with("val Dice WT 0.500 TC 0.600 ET 0.700"),
            "{line}"
        );
        let line = describe(&record(vec![
            GroupDice {
                group: "random".into(),
                cases: 6,
                dice: [0.1, 0.2, 0.3],
            },
            GroupDice {
                group: "realistic".into(),
                cases: 18,
                dice: [0.9, 0.85, 0.8],
            },
        ]));
        assert!(
            line.ends_with(
                "val Dice WT 0.500 TC 0.600 ET 0.700 (random 6: WT 0.100 TC 0.200 ET 0.300; realistic 18: WT 0.900 TC 0.850 ET 0.800)"
            ),
            "{line}"
        );
    }
}
