//! Every lock, condition variable, atomic and thread the engine uses comes from here,
//! so that the run protocol has one place to swap in a model checker's primitives.

pub(crate) use crossbeam_deque::{Steal, Stealer, Worker};
pub(crate) use parking_lot::{Condvar, Mutex};
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
pub(crate) use std::thread;

/// A lock whose release is a plain store: for data held for nanoseconds (a job's label
/// and requirements) or by one thread at a time by construction (a job's body), where a
/// parking lock's second atomic read-modify-write would double its cost. Waiters yield.
pub(crate) type SpinLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

/// A write-once cell whose write is one compare-and-swap and one store.
pub(crate) type Once<T> = spin::once::Once<T, spin::relax::Yield>;
