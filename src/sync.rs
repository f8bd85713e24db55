//! Every lock, condition variable, atomic and thread the engine uses comes from here,
//! so that the run protocol has one place to swap in a model checker's primitives.

pub(crate) use crossbeam_deque::{Steal, Stealer, Worker};
pub(crate) use parking_lot::{Condvar, Mutex};
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
pub(crate) use std::thread;
