//! A batch job's body in two words: a closure called once (`FnOnce`) or at each run
//! (`FnMut`), stored in place when it fits in one word (no captures, or a capture of
//! up to 8 bytes), boxed otherwise.
//!
//! `Box<dyn FnOnce>` allocates for any closure that captures something, and frees it
//! on the worker that runs it; a small-box with a fat pointer and inline space takes
//! four words. This is a value and a pointer to a table of two functions (call, drop)
//! made for each closure type: a slot of a batch fits in 32 bytes, and most bodies
//! cost no allocation.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::mem::{align_of, size_of, MaybeUninit};

use crate::error::JobError;
use crate::job::Context;

/// A type-erased `FnOnce(&Context) -> Result<T, JobError> + Send`.
pub(crate) struct Body<T: 'static> {
    /// The closure itself when it fits (see [`fits`]), else a `Box` of it as a pointer.
    data: MaybeUninit<*mut ()>,
    /// How to call and drop what `data` holds; [`Table::CONSUMED`] once called.
    table: &'static Table<T>,
    /// Owns a closure that is `Send` but maybe not `Sync`.
    _owns: PhantomData<*mut ()>,
}

struct Table<T> {
    /// Calls the closure: moves it out of the data (`FnOnce`), or borrows it there.
    call: unsafe fn(&mut MaybeUninit<*mut ()>, &Context<'_>) -> Result<T, JobError>,
    /// Drops the closure in the data, if it is there.
    drop: unsafe fn(&mut MaybeUninit<*mut ()>),
    /// The closure is `FnMut`: a call leaves it in place, for the next run.
    again: bool,
}

impl<T> Table<T> {
    /// The table of a body that was called: nothing left to call or drop.
    const CONSUMED: Table<T> = Table {
        call: Self::consumed,
        drop: Self::nothing,
        again: false,
    };

    unsafe fn consumed(_: &mut MaybeUninit<*mut ()>, _: &Context<'_>) -> Result<T, JobError> {
        Err(JobError::new("job body already consumed"))
    }

    unsafe fn nothing(_: &mut MaybeUninit<*mut ()>) {}
}

/// Whether a closure of type `F` is stored in the data word itself.
const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<*mut ()>() && align_of::<F>() <= align_of::<*mut ()>()
}

/// The table of closures of type `F`.
struct Erased<F, T>(PhantomData<(F, T)>);

impl<F, T> Erased<F, T>
where
    F: FnOnce(&Context<'_>) -> Result<T, JobError>,
{
    const TABLE: Table<T> = Table {
        call: Self::call,
        drop: Self::drop,
        again: false,
    };

    /// # Safety
    ///
    /// `data` holds an `F` as [`Body::new`] stored it, not moved out since.
    unsafe fn call(data: &mut MaybeUninit<*mut ()>, ctx: &Context<'_>) -> Result<T, JobError> {
        let f: F = if fits::<F>() {
            // SAFETY: `new` wrote an `F` in place (it fits the word's size and
            // alignment), and this moves it out once: the caller replaces the table
            // first, so neither `call` nor `drop` sees it again.
            unsafe { data.as_mut_ptr().cast::<F>().read() }
        } else {
            // SAFETY: `new` stored the pointer of a `Box<F>`, taken back here once.
            unsafe { *Box::from_raw(data.assume_init().cast::<F>()) }
        };
        f(ctx)
    }

    /// # Safety
    ///
    /// As for `call`.
    unsafe fn drop(data: &mut MaybeUninit<*mut ()>) {
        if fits::<F>() {
            // SAFETY: an `F` in place, never moved out (the table would be `CONSUMED`).
            unsafe { data.as_mut_ptr().cast::<F>().drop_in_place() }
        } else {
            // SAFETY: the pointer of a `Box<F>`, never taken back.
            drop(unsafe { Box::from_raw(data.assume_init().cast::<F>()) })
        }
    }
}

/// The table of an `FnMut` closure: called in place, any number of times.
struct ErasedMut<F, T>(PhantomData<(F, T)>);

impl<F, T> ErasedMut<F, T>
where
    F: FnMut(&Context<'_>) -> Result<T, JobError>,
{
    const TABLE: Table<T> = Table {
        call: Self::call,
        drop: Erased::<F, T>::drop,
        again: true,
    };

    unsafe fn call(data: &mut MaybeUninit<*mut ()>, ctx: &Context<'_>) -> Result<T, JobError> {
        let f: &mut F = if fits::<F>() {
            // SAFETY: `new_mut` wrote an `F` in place, and it stays there: this borrows
            // it for the call, through the body's `&mut`.
            unsafe { &mut *data.as_mut_ptr().cast::<F>() }
        } else {
            // SAFETY: `new_mut` stored the pointer of a `Box<F>`, owned by the body and
            // borrowed here through its `&mut`.
            unsafe { &mut *(data.assume_init().cast::<F>()) }
        };
        f(ctx)
    }
}

impl<T: 'static> Body<T> {
    /// A body that runs at each run of its batch.
    pub(crate) fn new_mut<F>(f: F) -> Self
    where
        F: FnMut(&Context<'_>) -> Result<T, JobError> + Send + 'static,
    {
        Body {
            data: Self::store(f),
            table: &ErasedMut::<F, T>::TABLE,
            _owns: PhantomData,
        }
    }

    /// Whether the body can be called again (an `FnMut` closure).
    pub(crate) fn again(&self) -> bool {
        self.table.again
    }

    fn store<F>(f: F) -> MaybeUninit<*mut ()> {
        let mut data = MaybeUninit::<*mut ()>::uninit();
        if fits::<F>() {
            // SAFETY: `F` fits the word's size and alignment (`fits`).
            unsafe { data.as_mut_ptr().cast::<F>().write(f) };
        } else {
            data.write(Box::into_raw(Box::new(f)).cast::<()>());
        }
        data
    }

    pub(crate) fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Context<'_>) -> Result<T, JobError> + Send + 'static,
    {
        Body {
            data: Self::store(f),
            table: &Erased::<F, T>::TABLE,
            _owns: PhantomData,
        }
    }

    /// Calls the closure; a body called before only says so.
    pub(crate) fn call(&mut self, ctx: &Context<'_>) -> Result<T, JobError> {
        if self.table.again {
            // SAFETY: the table is the one `new_mut` chose for what `data` holds; it
            // borrows the closure, which stays for the next call and for `drop`. Should
            // the closure panic, it is still whole (unwinding drops nothing of it).
            return unsafe { (self.table.call)(&mut self.data, ctx) };
        }
        // The table goes first: if the closure panics, its captures are dropped by the
        // unwinding call, and this body's drop must not drop them again.
        let table = std::mem::replace(&mut self.table, &Table::CONSUMED);
        // SAFETY: `table` is the one `new` chose for what `data` holds, and, being
        // replaced, it is used once.
        unsafe { (table.call)(&mut self.data, ctx) }
    }
}

impl<T: 'static> Drop for Body<T> {
    fn drop(&mut self) {
        // SAFETY: the table matches the data: `new`'s, or `CONSUMED` once called.
        unsafe { (self.table.drop)(&mut self.data) }
    }
}

// SAFETY: a body owns a closure that is `Send` (`new` requires it), and it moves to the
// thread that calls or drops it; what the call returns, a `T`, goes back to the batch.
unsafe impl<T: Send + 'static> Send for Body<T> {}

#[cfg(test)]
mod tests {
    //! The body's unsafe paths, each once: in place and boxed, called, dropped
    //! uncalled, called twice, and a call that panics. Small enough for Miri
    //! (`cargo +nightly miri test --lib batch`), which checks them for undefined
    //! behaviour and leaks.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Waker;

    use super::{fits, Body};
    use crate::error::{Error, JobError};
    use crate::job::{caught, Context, Control};
    use crate::sync::AtomicBool;

    /// A run that is asked nothing.
    struct NoRun;

    impl Control for NoRun {
        fn future_parked(&self) {}
        fn future_unparked(&self) {}
        fn on_cancel(&self, _: u32, _: &Waker) {}
        fn forget_waker(&self, _: u32) {}
        fn time_out(&self) {}
        fn retry(&self, _: u32, _: &crate::error::JobError) -> bool {
            false
        }
        fn label(&self, _: u32) -> String {
            String::new()
        }
        fn limits(&self) -> Option<Arc<crate::limits::Limits>> {
            None
        }
        fn input(
            &self,
            _: u32,
            _: u32,
            _: u32,
        ) -> Result<&(dyn std::any::Any + Send + Sync), Error> {
            unreachable!()
        }
    }

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn call<T>(body: &mut Body<T>) -> Result<T, JobError> {
        let cancelled = AtomicBool::new(false);
        let ctx = Context::new(&NoRun, &cancelled, None, 0, None);
        caught(|| body.call(&ctx))
    }

    #[test]
    fn a_body_in_place_and_a_boxed_one_are_called_once_and_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        // One word of capture: in place. Three words: boxed.
        let small = Counted(drops.clone());
        let big = (Counted(drops.clone()), 7u64, vec![1u8]);
        fn check<F>(_: &F, in_place: bool) {
            assert_eq!(fits::<F>(), in_place);
        }
        let small_f = move |_: &Context<'_>| Ok(small.0.load(Ordering::SeqCst) as u64);
        let big_f = move |_: &Context<'_>| {
            // The whole tuple, not just the fields read (closures capture fields).
            let big = &big;
            Ok(big.1 + big.2[0] as u64)
        };
        check(&small_f, true);
        check(&big_f, false);
        let (mut small, mut big) = (Body::new(small_f), Body::new(big_f));
        assert_eq!(call(&mut small).unwrap(), 0);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the capture went with the call"
        );
        assert_eq!(call(&mut big).unwrap(), 8);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(call(&mut small).is_err(), "a second call only says so");
        drop((small, big));
        assert_eq!(drops.load(Ordering::SeqCst), 2, "nothing dropped twice");
    }

    #[test]
    fn a_body_never_called_drops_its_capture_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let small = Counted(drops.clone());
        let big = (Counted(drops.clone()), [0u64; 4]);
        drop(Body::new(move |_: &Context<'_>| {
            Ok::<_, JobError>(small.0.clone())
        }));
        drop(Body::new(move |_: &Context<'_>| {
            let big = &big;
            Ok::<_, JobError>(big.1[0])
        }));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_body_that_panics_drops_its_capture_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let small = Counted(drops.clone());
        let big = (Counted(drops.clone()), [0u64; 4]);
        let mut small = Body::new(move |_: &Context<'_>| -> Result<(), JobError> {
            let _keep = &small;
            panic!("small")
        });
        let mut big = Body::new(move |_: &Context<'_>| -> Result<(), JobError> {
            let _keep = &big;
            panic!("big")
        });
        assert!(call(&mut small).is_err());
        assert!(call(&mut big).is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        drop((small, big));
        assert_eq!(drops.load(Ordering::SeqCst), 2, "nothing dropped twice");
    }
}
