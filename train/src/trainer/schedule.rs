//! The learning-rate schedule: linear warmup from 0, then cosine, linear or constant to the end.
//! Same formulas as transformers' `get_*_schedule_with_warmup`, with a floor at `min_lr`.

use crate::config::Schedule;

#[derive(Clone, Debug)]
pub struct LrSchedule {
    pub peak: f64,
    pub min: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub kind: Schedule,
}

impl LrSchedule {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        let factor = match self.kind {
            Schedule::Constant => return self.peak,
            Schedule::Linear => 1.0 - progress,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        self.min + (self.peak - self.min) * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: Schedule) -> LrSchedule {
        LrSchedule { peak: 1.0, min: 0.1, warmup_steps: 4, total_steps: 14, kind }
    }

    #[test]
    fn warms_up_linearly_from_zero() {
        let s = schedule(Schedule::Cosine);
        assert_eq!([s.lr(0), s.lr(1), s.lr(2), s.lr(4)], [0.0, 0.25, 0.5, 1.0]);
    }

    #[test]
    fn decays_to_the_floor() {
        let cosine = schedule(Schedule::Cosine);
        assert!((cosine.lr(9) - 0.55).abs() < 1e-12, "halfway: {}", cosine.lr(9));
        assert!((cosine.lr(14) - 0.1).abs() < 1e-12);
        let linear = schedule(Schedule::Linear);
        assert!((linear.lr(9) - 0.55).abs() < 1e-12);
        assert_eq!(schedule(Schedule::Constant).lr(13), 1.0);
    }
}
