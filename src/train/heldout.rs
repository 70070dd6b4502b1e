//! Held-out evaluation during training (`train.eval_every`): `discogan eval`'s numbers on the
//! dataset's test images, written to the metrics log so that the log holds the quality curve.

use burn::tensor::Device;
use serde_json::{Map, Value, json};

use super::Trainer;
use crate::data::{Dataset, Source, read};
use crate::error::Result;
use crate::eval::{DirectionReport, Named, Prepared, file_name};
use crate::model::Generators;
use crate::translate::{Direction, Translator};

/// The test images of both domains, decoded and paired once, with the baselines scored.
pub(crate) struct HeldOut {
    prepared: Prepared,
}

impl HeldOut {
    /// Reads the dataset's test images for a model of `size` pixels. Ground-truth pairs share a
    /// file name (for aligned data, the two halves of one file).
    pub(crate) fn load(dataset: &Dataset, size: usize) -> Result<Self> {
        let named = |domain: &[Source]| -> Result<Vec<Named>> {
            domain
                .iter()
                .map(|source| {
                    Ok(Named {
                        name: file_name(&source.path),
                        image: read(source)?,
                    })
                })
                .collect()
        };
        let (a, b) = (named(&dataset.test_a)?, named(&dataset.test_b)?);
        let directions = [Direction::AToB, Direction::BToA];
        Ok(Self {
            prepared: Prepared::new(&a, &b, &directions, size),
        })
    }

    /// Scores the trainer's current generators (in inference mode): metric-log entries named
    /// `heldout_{a2b,b2a}_{l1,psnr,ssim,top1,top5,recon_l1}`, and a one-line summary. When the
    /// run keeps a moving average, those are the average's scores, and the trained weights'
    /// are logged too, as `heldout_raw_*`.
    pub(crate) fn evaluate(
        &self,
        trainer: &Trainer,
        device: &Device,
    ) -> Result<(Map<String, Value>, String)> {
        let (mut map, summary) =
            self.score(&trainer.inference_generators(), "heldout", trainer, device)?;
        if trainer.averaged_generators().is_some() {
            let (raw, _) = self.score(&trainer.generators, "heldout_raw", trainer, device)?;
            map.extend(raw);
        }
        Ok((map, summary))
    }

    fn score(
        &self,
        g: &Generators,
        prefix: &str,
        trainer: &Trainer,
        device: &Device,
    ) -> Result<(Map<String, Value>, String)> {
        let config = trainer.config();
        let translator = Translator::new(g, config, device);
        Ok(entries(&self.prepared.score(&translator)?, prefix))
    }
}

fn entries(reports: &[DirectionReport], prefix: &str) -> (Map<String, Value>, String) {
    let mut map = Map::new();
    let mut summary = Vec::new();
    for r in reports {
        let key = |what: &str| format!("{prefix}_{}_{what}", r.direction);
        if let Some(s) = &r.model {
            for (what, value) in [
                ("l1", s.l1),
                ("psnr", s.psnr),
                ("ssim", s.ssim),
                ("top1", s.top1),
                ("top5", s.top5),
            ] {
                map.insert(key(what), json!(round(value)));
            }
            summary.push(format!(
                "{} L1 {:.4} top-1 {:.1}%",
                r.direction,
                s.l1,
                100.0 * s.top1
            ));
        }
        map.insert(key("recon_l1"), json!(round(r.reconstruction_l1)));
    }
    (map, format!("held-out: {}", summary.join(", ")))
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
