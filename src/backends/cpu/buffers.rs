//! Plain `f32` buffers in and out of the CPU backend's tensors, for the hand-written operations
//! of [`super::conv4`] and [`super::norm_act`].

use std::borrow::Cow;
use std::mem::{ManuallyDrop, MaybeUninit};

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};
use rayon::prelude::*;

/// `x` with its values in order in its buffer (copied only if they are not).
pub(super) fn contiguous(x: FlexTensor) -> FlexTensor {
    if x.is_contiguous() {
        x
    } else {
        x.to_contiguous()
    }
}

/// The values of an `f32` tensor, in order: for a [`contiguous`] one, its own range of the
/// buffer (which may be a part of a larger one: a slice of a batch shares its parent's buffer),
/// borrowed; for any other, a copy in order. Never the whole buffer of a view.
pub(super) fn values(x: &FlexTensor) -> Cow<'_, [f32]> {
    match x.layout().contiguous_offsets() {
        Some((start, end)) => Cow::Borrowed(&x.storage::<f32>()[start..end]),
        None => Cow::Owned(values(&x.to_contiguous()).into_owned()),
    }
}

/// A tensor of `shape` owning `values` (no copy).
pub(super) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// A tensor shaped as `like` owning `values`.
pub(super) fn tensor_like(like: &FlexTensor, values: Vec<f32>) -> FlexTensor {
    tensor(values, like.layout().shape().clone())
}

/// `len` values computed in parallel: `fill(index, run)` writes the `index`-th run of `chunk`
/// values (the last run may be shorter), which it receives zeroed.
///
/// Why not `vec![0.0; len]` and `par_chunks_mut`: glibc's calloc clears reused memory with one
/// `memset` on the calling thread (the binary keeps freed memory, `src/malloc.rs`), a whole
/// pass over the buffer with the other core idle, before the parallel pass writes it again.
/// Here each task zeroes its own run just before writing it, in its cache.
pub(super) fn par_zeroed(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut values: Vec<MaybeUninit<f32>> = Vec::with_capacity(len);
    // SAFETY: `MaybeUninit` values need no initialisation.
    unsafe { values.set_len(len) };
    values
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(index, run)| {
            run.iter_mut().for_each(|v| {
                v.write(0.0);
            });
            // SAFETY: every value of `run` was just initialised, and `MaybeUninit<f32>` has
            // `f32`'s layout.
            let run = unsafe { &mut *(run as *mut [MaybeUninit<f32>] as *mut [f32]) };
            fill(index, run);
        });
    // SAFETY: the runs cover `values` (`par_chunks_mut`), each was initialised above; the
    // pointer, length and capacity are `values`' own, of the same layout.
    let mut values = ManuallyDrop::new(values);
    unsafe { Vec::from_raw_parts(values.as_mut_ptr().cast::<f32>(), len, values.capacity()) }
}

/// Values per task of the element-wise maps below: large enough to amortise a task, small
/// enough to split the generators' outputs (98,304 values at 8 x 3 x 64 x 64) across the cores.
const MAP_TASK: usize = 1 << 14;

/// `f(x[i])` for every value, in parallel.
pub(super) fn par_map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(MAP_TASK)
        .zip(x.par_chunks(MAP_TASK))
        .for_each(|(out, x)| out.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x)));
    out
}

/// `f(a[i], b[i])` for every pair of values (`a` and `b` of one length), in parallel.
pub(super) fn par_map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    debug_assert_eq!(a.len(), b.len());
    let mut out = vec![0.0; a.len()];
    out.par_chunks_mut(MAP_TASK)
        .zip(a.par_chunks(MAP_TASK).zip(b.par_chunks(MAP_TASK)))
        .for_each(|(out, (a, b))| {
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *o = f(a, b);
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_a_view_are_its_own() {
        // [4, 3]: rows 0-1 start the buffer, rows 2-3 are offset; both share its 12 values.
        let x = tensor((0..12).map(|v| v as f32).collect(), [4, 3]);
        let head = contiguous(x.narrow(0, 0, 2));
        let tail = contiguous(x.narrow(0, 2, 2));
        assert_eq!(&*values(&head), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(&*values(&tail), &[6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        // A strided view is copied into order.
        let column = contiguous(x.narrow(1, 1, 1));
        assert_eq!(&*values(&column), &[1.0, 4.0, 7.0, 10.0]);
        // ... and so are its values when it is not made contiguous first (they were the whole
        // buffer, 12 values, in a release build).
        let strided = x.narrow(1, 1, 1);
        assert!(!strided.is_contiguous());
        assert_eq!(&*values(&strided), &[1.0, 4.0, 7.0, 10.0]);
    }

    #[test]
    fn par_zeroed_hands_out_every_run_zeroed_once() {
        // 10 values in runs of 4: 4, 4 and a last run of 2. Each run adds its index + 1 to
        // values it receives as 0, so a value not zeroed, handed out twice or never shows.
        let v = par_zeroed(10, 4, |index, run| {
            run.iter_mut().for_each(|x| *x += (index + 1) as f32)
        });
        assert_eq!(v, [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0]);
        assert!(par_zeroed(0, 4, |_, _| unreachable!("no run of nothing")).is_empty());
    }
}
