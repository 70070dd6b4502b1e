//! An exponential moving average of the generators' weights (`train.ema_decay`).
//!
//! GAN generators keep moving along the adversarial game's oscillations; the average of their
//! recent weights translates more steadily than any one of them, at no training cost (one
//! blend of the weights per generator step). The average lives on the inference device (no
//! autodiff) and only serves inference: sample grids, held-out scores, `translate`, `eval`.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::model::Generators;

/// The decay used after iteration `iteration` (counting from 0): `decay`, but lower early on, so
/// that the average forgets the random initial weights within the first iterations rather than
/// over `1 / (1 - decay)` of them (TensorFlow's `ExponentialMovingAverage` with `num_updates`).
/// A function of the iteration alone, so that a resumed run averages as an uninterrupted one.
pub fn effective_decay(decay: f64, iteration: u64) -> f64 {
    let t = iteration as f64;
    decay.min((1.0 + t) / (10.0 + t))
}

/// `average ← d · average + (1 − d) · current` for every trained weight, with
/// `d = effective_decay(decay, iteration)`; buffers that are not trained (BatchNorm's running
/// statistics) are copied from `current`, as they are not weights of the game.
pub fn update(average: Generators, current: &Generators, decay: f64, iteration: u64) -> Generators {
    let mut collect = Collect::default();
    current.visit(&mut collect);
    let mut blend = Blend {
        current: collect.values.into_iter(),
        decay: effective_decay(decay, iteration),
    };
    average.map(&mut blend)
}

/// The flattened value of every float tensor of a module in visiting order, and whether it is
/// trained.
#[derive(Default)]
struct Collect {
    values: Vec<(Tensor<1>, bool)>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let trained = value.is_require_grad();
        self.values
            .push((value.without_autodiff().flatten::<1>(0, D - 1), trained));
    }
}

/// Blends each float tensor of the average with its counterpart collected from the current
/// module (the same structure, so the same visiting order).
struct Blend {
    current: std::vec::IntoIter<(Tensor<1>, bool)>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((current, trained)) = self.current.next() else {
            return param;
        };
        let (id, average, mapper) = param.consume();
        let current = current.reshape(average.shape());
        let value = if trained {
            average * self.decay + current * (1.0 - self.decay)
        } else {
            current
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use burn::tensor::Device;

    fn weights(g: &Generators) -> Vec<f32> {
        let mut collect = Collect::default();
        g.visit(&mut collect);
        collect
            .values
            .into_iter()
            .flat_map(|(t, _)| t.into_data().try_to_vec::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn decay_starts_low_and_reaches_the_configured_value() {
        assert_eq!(effective_decay(0.999, 0), 0.1);
        assert_eq!(effective_decay(0.999, 8), 0.5);
        assert!(effective_decay(0.999, 500) < 0.999);
        assert_eq!(effective_decay(0.999, 100_000), 0.999);
        assert_eq!(effective_decay(0.5, 100), 0.5);
    }

    #[test]
    fn update_blends_every_weight() {
        let model = ModelConfig {
            width: 4,
            image_size: 32,
            ..ModelConfig::default()
        };
        let device = Device::flex().autodiff();
        device.seed(1);
        let first = model.init_generators(&device).unwrap();
        let second = model.init_generators(&device).unwrap();
        let (w1, w2) = (weights(&first), weights(&second));
        assert_eq!(w1.len(), w2.len());
        assert!(w1.iter().zip(&w2).any(|(a, b)| a != b));

        // At iteration 1000 the decay is min(0.9, 1001/1010) = 0.9.
        let average = update(first.valid(), &second, 0.9, 1000);
        let blended = weights(&average);
        assert_eq!(blended.len(), w1.len());
        for ((a, b), m) in w1.iter().zip(&w2).zip(&blended) {
            let expected = 0.9 * a + 0.1 * b;
            assert!(
                (m - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
                "{m} vs {expected}"
            );
        }
        // The trained modules are untouched.
        assert_eq!(weights(&second), w2);
    }

    #[test]
    fn running_statistics_are_copied_not_averaged() {
        use crate::model::Architecture;
        use burn::store::ModuleSnapshot;
        use burn::tensor::Distribution;

        let model = ModelConfig {
            architecture: Architecture::Paper,
            width: 4,
            image_size: 32,
            ..ModelConfig::default()
        };
        let device = Device::flex().autodiff();
        device.seed(2);
        let average = model.init_generators(&device).unwrap().valid();
        let current = model.init_generators(&device).unwrap();
        // A training-mode forward pass moves the running statistics away from their start.
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
        let _ = current.g_ab.forward(x);
        let running = |g: &Generators| -> Vec<(String, Vec<u8>)> {
            g.collect(None, None, false)
                .into_iter()
                .filter(|t| t.name.contains("running_"))
                .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
                .collect()
        };
        let before = running(&average);
        assert!(!before.is_empty(), "the paper generator has BatchNorm");
        assert_ne!(before, running(&current));
        let updated = update(average, &current, 0.9, 1000);
        assert_eq!(running(&updated), running(&current));
    }
}
