//! The handle every job is held by, and the memory jobs are cut from.
//!
//! [`Shared`] is a reference-counted pointer with `Arc`'s counts and orderings: strong
//! handles, weak ones (the cycle collector's), and the weak count locked by
//! [`Shared::get_mut`] as `Arc`'s is. What differs is where a job lives. An `Arc` is one
//! `malloc` per job: with threads about, each takes the allocator's arena lock once its
//! thread's small cache (seven chunks of a size) is empty, which a graph of thousands
//! of jobs empties at once (about 10 ns of a scheduler job's build, measured with a
//! thread-caching allocator instead). Jobs are rather cut, in order, from blocks of
//! [`BLOCK`] bytes that the thread building them holds (as Taskflow takes its nodes
//! from a per-thread pool): no lock, no search, and neighbours in memory that were
//! built together. A block is freed once every job cut from it is, whichever threads
//! free them: it counts its live jobs, with a bias while its thread still cuts from it,
//! so that the thread's cuts need no atomic instruction.
//!
//! What it costs: a job that outlives the others cut beside it keeps its whole block
//! (16 KiB) allocated until it goes; a job bigger than [`BIG`] bytes, or aligned to
//! more than a line, gets a block of its own.
//!
//! Like `Arc`, it stays real under loom: its atomics are `std`'s.
#![allow(unsafe_code)]

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};

/// The size of the blocks jobs are cut from.
pub(crate) const BLOCK: usize = 16 * 1024;

/// The largest job cut from a shared block; a bigger one has a block of its own.
pub(crate) const BIG: usize = 1024;

/// The alignment of blocks: a cache line.
const LINE: usize = 64;

/// Past this many handles to one job (two thousand million, where an `Arc` allows
/// `isize::MAX`), a count could overflow: the process aborts, as `Arc`'s does past its
/// own limit. The counts take 4 bytes each, so that a cell's head is no bigger than an
/// `Arc`'s with its block's address in it.
const MAX_COUNT: u32 = i32::MAX as u32;

/// What a block's count starts at while a thread cuts jobs from it: far above any
/// number of jobs it can hold, so that frees never bring it to zero meanwhile.
const CUTTING: usize = usize::MAX / 2;

/// The head of a block: how many of its jobs are alive (biased by [`CUTTING`] while a
/// thread cuts from it), and its layout, to free it with.
#[repr(C)]
struct Block {
    live: AtomicUsize,
    layout: Layout,
}

/// Where a block's first job may start (a job aligned to more starts further in).
const HEAD: usize = std::mem::size_of::<Block>().next_multiple_of(16);

/// One job's allocation: its counts, its block, then the job.
#[repr(C)]
pub(crate) struct Shell<N: ?Sized> {
    /// Strong handles.
    strong: AtomicU32,
    /// Weak handles, plus one held by all the strong ones together (as `Arc`'s);
    /// `u32::MAX` while [`Shared::get_mut`] checks that there are none.
    weak: AtomicU32,
    block: NonNull<Block>,
    node: N,
}

/// A strong handle to a job (or to anything kept the same way): what `Arc` would be.
pub(crate) struct Shared<N: ?Sized> {
    ptr: NonNull<Shell<N>>,
    owns: PhantomData<Shell<N>>,
}

/// A weak handle: keeps the memory, not the job; [`upgrade`](WeakShared::upgrade) gives
/// a strong handle while any is left.
pub(crate) struct WeakShared<N: ?Sized> {
    ptr: NonNull<Shell<N>>,
}

// SAFETY: as `Arc<N>`: handles on several threads share `&N`, and the last one drops
// `N` on whichever thread it is, hence `N: Send + Sync`. The counts are atomic.
unsafe impl<N: ?Sized + Send + Sync> Send for Shared<N> {}
// SAFETY: as above.
unsafe impl<N: ?Sized + Send + Sync> Sync for Shared<N> {}
// SAFETY: as `Weak<N>`: an upgrade on another thread gives a `Shared<N>` there.
unsafe impl<N: ?Sized + Send + Sync> Send for WeakShared<N> {}
// SAFETY: as above.
unsafe impl<N: ?Sized + Send + Sync> Sync for WeakShared<N> {}

impl<N> Shared<N> {
    /// A job (or anything) in a new allocation, with one strong handle.
    pub(crate) fn new(node: N) -> Self {
        let (at, block) = cut(Layout::new::<Shell<N>>());
        let ptr = at.cast::<Shell<N>>();
        // SAFETY: `cut` gave memory for a `Shell<N>`, aligned, that nothing else uses.
        unsafe {
            ptr.as_ptr().write(Shell {
                strong: AtomicU32::new(1),
                weak: AtomicU32::new(1),
                block,
                node,
            })
        };
        Shared {
            ptr,
            owns: PhantomData,
        }
    }
}

impl<N: ?Sized> Shared<N> {
    fn shell(&self) -> &Shell<N> {
        // SAFETY: a strong handle keeps the shell and its node alive.
        unsafe { self.ptr.as_ref() }
    }

    /// How many strong handles there are (a snapshot, as `Arc::strong_count`).
    pub(crate) fn strong_count(this: &Self) -> usize {
        this.shell().strong.load(Ordering::Relaxed) as usize
    }

    /// How many weak handles there are (a snapshot, as `Arc::weak_count`).
    pub(crate) fn weak_count(this: &Self) -> usize {
        match this.shell().weak.load(Ordering::Relaxed) {
            // Locked by `get_mut`, which found it at one: none.
            u32::MAX => 0,
            // The strong handles hold one between them.
            weak => weak as usize - 1,
        }
    }

    /// Where the node is: the same for every handle to it.
    pub(crate) fn as_ptr(this: &Self) -> *const N {
        // SAFETY: in bounds of the live allocation; no reference is made.
        unsafe { &raw const (*this.ptr.as_ptr()).node }
    }

    /// Where the counts are, for a prefetch ahead of a clone.
    pub(crate) fn counts_ptr(this: &Self) -> *const u8 {
        this.ptr.as_ptr().cast::<u8>().cast_const()
    }

    /// A weak handle to the same node.
    pub(crate) fn downgrade(this: &Self) -> WeakShared<N> {
        let weak = &this.shell().weak;
        let mut now = weak.load(Ordering::Relaxed);
        loop {
            if now == u32::MAX {
                // `get_mut` is looking: it puts the count back at once.
                std::hint::spin_loop();
                now = weak.load(Ordering::Relaxed);
                continue;
            }
            if now > MAX_COUNT {
                std::process::abort();
            }
            match weak.compare_exchange_weak(now, now + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return WeakShared { ptr: this.ptr },
                Err(seen) => now = seen,
            }
        }
    }

    /// The node, to change, when this is its only handle, strong or weak.
    pub(crate) fn get_mut(this: &mut Self) -> Option<&mut N> {
        let shell = this.shell();
        // The weak count locked first: no weak handle can be upgraded between the
        // look at it and the look at the strong count.
        if shell
            .weak
            .compare_exchange(1, u32::MAX, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let unique = shell.strong.load(Ordering::Acquire) == 1;
        shell.weak.store(1, Ordering::Release);
        // SAFETY: the only handle, borrowed mutably: nothing else reaches the node.
        unique.then(|| unsafe { &mut (*this.ptr.as_ptr()).node })
    }

    /// Changes what a handle points to, keeping its counts: for a handle to a `Sized`
    /// node made into one to a trait object (`Shared<Cell<B>>` into `Shared<dyn Node>`),
    /// which `Arc` does by coercion.
    pub(crate) fn map_ptr<M: ?Sized>(
        this: Self,
        unsize: impl FnOnce(NonNull<Shell<N>>) -> NonNull<Shell<M>>,
    ) -> Shared<M> {
        let ptr = unsize(this.ptr);
        assert!(std::ptr::addr_eq(ptr.as_ptr(), this.ptr.as_ptr()));
        std::mem::forget(this);
        Shared {
            ptr,
            owns: PhantomData,
        }
    }

    /// The handle as one to a node of type `M`.
    ///
    /// # Safety
    ///
    /// The node must be an `M` (checked by the caller, with `Any`).
    unsafe fn cast<M>(this: Self) -> Shared<M> {
        Shared::map_ptr(this, |ptr| ptr.cast::<Shell<M>>())
    }
}

/// The node as `Any`, to find its type: every type has it, and a trait object has it
/// when its trait asks for it (`Node` does, for the handles' downcasts and for the
/// front door that made a job to find its own type).
pub(crate) trait Erased {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
}

impl<T: Any + Send + Sync> Erased for T {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
}

impl<N: ?Sized + Erased> Shared<N> {
    /// The handle to a node of type `T`, when the node is one.
    pub(crate) fn downcast<T: Any>(self) -> Result<Shared<T>, Self> {
        if (*self).as_any().is::<T>() {
            // SAFETY: the node is a `T`, as `Any` says.
            Ok(unsafe { Shared::cast(self) })
        } else {
            Err(self)
        }
    }
}

/// As `Arc`'s: a handle moves freely, pinned or not; what it points to does not move.
impl<N: ?Sized> Unpin for Shared<N> {}

impl<N: ?Sized> Clone for Shared<N> {
    fn clone(&self) -> Self {
        if self.shell().strong.fetch_add(1, Ordering::Relaxed) > MAX_COUNT {
            std::process::abort();
        }
        Shared {
            ptr: self.ptr,
            owns: PhantomData,
        }
    }
}

impl<N: ?Sized> Deref for Shared<N> {
    type Target = N;

    fn deref(&self) -> &N {
        &self.shell().node
    }
}

impl<N: ?Sized> Drop for Shared<N> {
    fn drop(&mut self) {
        if self.shell().strong.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // What the other handles did before they were dropped happens before this.
        fence(Ordering::Acquire);
        // The weak handle the strong ones held together, let go of after the node is
        // dropped, or while a `Drop` of the node's unwinds: the memory is freed either
        // way (an `Arc` would keep it).
        let _memory = Memory(self.ptr);
        // SAFETY: the last strong handle: nobody reaches the node any more, and it is
        // dropped once. The memory stays until the last weak handle goes.
        unsafe { std::ptr::drop_in_place(&raw mut (*self.ptr.as_ptr()).node) };
    }
}

/// The weak handle that a node's strong handles hold together, let go of by the last.
struct Memory<N: ?Sized>(NonNull<Shell<N>>);

impl<N: ?Sized> Drop for Memory<N> {
    fn drop(&mut self) {
        // SAFETY: the weak handle this stands for keeps the counts' memory.
        let (weak, block) = unsafe {
            let shell = self.0.as_ptr();
            (&(*shell).weak, (*shell).block)
        };
        // No strong handle is left, so no weak one can be made (nor `get_mut` lock the
        // count). At one, the only weak handle is this one: nobody else reads the count,
        // and the memory is freed without an atomic instruction on it. The load
        // acquires what weak handles did before they were dropped.
        if weak.load(Ordering::Acquire) == 1 {
            // SAFETY: the last handle of either kind; its block loses one live job.
            unsafe { release(block, 1) };
        } else {
            drop(WeakShared { ptr: self.0 });
        }
    }
}

impl<N: ?Sized> WeakShared<N> {
    /// A strong handle, while the node is alive.
    pub(crate) fn upgrade(&self) -> Option<Shared<N>> {
        // SAFETY: a weak handle keeps the counts' memory.
        let strong = unsafe { &(*self.ptr.as_ptr()).strong };
        strong
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                if n > MAX_COUNT {
                    std::process::abort();
                }
                (n != 0).then_some(n + 1)
            })
            .ok()?;
        Some(Shared {
            ptr: self.ptr,
            owns: PhantomData,
        })
    }

    /// How many strong handles there are (0 once the node is dropped).
    pub(crate) fn strong_count(&self) -> usize {
        // SAFETY: a weak handle keeps the counts' memory.
        unsafe { &(*self.ptr.as_ptr()).strong }.load(Ordering::Relaxed) as usize
    }

    /// Where the node is (or was).
    pub(crate) fn as_ptr(&self) -> *const N {
        // SAFETY: in bounds of the allocation this handle keeps; no reference is made.
        unsafe { &raw const (*self.ptr.as_ptr()).node }
    }
}

impl<N: ?Sized> Drop for WeakShared<N> {
    fn drop(&mut self) {
        // SAFETY: this handle keeps the counts' memory until it is dropped.
        let (weak, block) = unsafe {
            let shell = self.ptr.as_ptr();
            (&(*shell).weak, (*shell).block)
        };
        if weak.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the last handle of either kind: the job's memory is free, and its
        // block loses one live job.
        unsafe { release(block, 1) };
    }
}

// ---- blocks -------------------------------------------------------------------------

/// Takes `gone` from a block's count of live jobs, and frees the block at zero.
///
/// # Safety
///
/// `block` is a live block, and `gone` of its jobs (or of its cutting bias) were counted
/// and are not any more.
unsafe fn release(block: NonNull<Block>, gone: usize) {
    // SAFETY: the block lives while its count is above zero, which it is until this
    // subtraction takes it there.
    let head = unsafe { block.as_ref() };
    if head.live.fetch_sub(gone, Ordering::Release) != gone {
        return;
    }
    fence(Ordering::Acquire);
    let layout = head.layout;
    // SAFETY: nothing is left in it: every job cut from it was released, and no
    // thread cuts from it any more.
    unsafe { dealloc(block.as_ptr().cast(), layout) };
}

/// A new block of `layout` (aligned to a line at least), its count at `live`.
fn new_block(layout: Layout, live: usize) -> NonNull<Block> {
    // SAFETY: `layout` has a non-zero size (at least `HEAD` plus a job).
    let Some(block) = NonNull::new(unsafe { alloc(layout) }.cast::<Block>()) else {
        handle_alloc_error(layout)
    };
    // SAFETY: fresh memory, big and aligned enough for a `Block`.
    unsafe {
        block.as_ptr().write(Block {
            live: AtomicUsize::new(live),
            layout,
        })
    };
    block
}

/// The block a thread cuts jobs from, and how far it has cut.
struct Cutter {
    block: Cell<Option<NonNull<Block>>>,
    /// Offsets in the block: the next free byte, and how many jobs were cut.
    next: Cell<usize>,
    cut: Cell<usize>,
}

impl Cutter {
    /// Room for `layout` in the thread's block, a new block when it is full.
    fn cut(&self, layout: Layout) -> (NonNull<u8>, NonNull<Block>) {
        let mut block = self.block.get();
        // An alignment is a power of two: a mask, where `next_multiple_of` divides.
        let mask = layout.align() - 1;
        let mut start = (self.next.get() + mask) & !mask;
        if block.is_none() || start + layout.size() > BLOCK {
            self.retire();
            let layout = Layout::from_size_align(BLOCK, LINE).expect("a block's layout");
            block = Some(new_block(layout, CUTTING));
            self.block.set(block);
            start = HEAD;
        }
        let block = block.expect("a block to cut from");
        self.next.set(start + layout.size());
        self.cut.set(self.cut.get() + 1);
        // SAFETY: `start + size` is within the block's `BLOCK` bytes.
        let at = unsafe { block.cast::<u8>().add(start) };
        (at, block)
    }

    /// Stops cutting from the thread's block: its count drops its bias, keeping the jobs
    /// cut from it that are still alive.
    fn retire(&self) {
        if let Some(block) = self.block.take() {
            let cut = self.cut.replace(0);
            // SAFETY: the bias was counted when the block was made; `cut` jobs were
            // counted in it since, and whatever freed them took one each.
            unsafe { release(block, CUTTING - cut) };
        }
        self.next.set(0);
    }
}

impl Drop for Cutter {
    /// A thread that ends lets go of its block.
    fn drop(&mut self) {
        self.retire();
    }
}

thread_local! {
    static CUTTER: Cutter = const {
        Cutter {
            block: Cell::new(None),
            next: Cell::new(0),
            cut: Cell::new(0),
        }
    };
}

/// Memory for one allocation of `layout`, and the block it is in.
fn cut(layout: Layout) -> (NonNull<u8>, NonNull<Block>) {
    if layout.size() <= BIG && layout.align() <= LINE {
        // A thread that is ending (its thread-locals going) gets a block of its own.
        if let Ok(at) = CUTTER.try_with(|cutter| cutter.cut(layout)) {
            return at;
        }
    }
    let start = HEAD.next_multiple_of(layout.align());
    let size = start + layout.size();
    let layout_block = Layout::from_size_align(size, layout.align().max(LINE))
        .expect("a job's layout")
        .pad_to_align();
    let block = new_block(layout_block, 1);
    // SAFETY: `start + size` is within the block.
    (unsafe { block.cast::<u8>().add(start) }, block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_last_strong_handle_drops_the_node_once_and_weak_ones_then_fail_to_upgrade() {
        let drops = Arc::new(AtomicUsize::new(0));
        let a = Shared::new(Counted(drops.clone()));
        let b = a.clone();
        let weak = Shared::downgrade(&a);
        assert_eq!((Shared::strong_count(&a), Shared::weak_count(&a)), (2, 1));
        assert_eq!(Shared::as_ptr(&a), Shared::as_ptr(&b));
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        let c = weak.upgrade().expect("a strong handle is left");
        drop((b, c));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(weak.upgrade().is_none());
        assert_eq!(weak.strong_count(), 0);
    }

    /// Panics as it is dropped.
    struct Explosive;

    impl Drop for Explosive {
        fn drop(&mut self) {
            panic!("a node that panics as it is dropped");
        }
    }

    #[test]
    fn a_node_whose_drop_panics_still_gives_its_memory_back() {
        // On a thread of its own, whose block is let go of as it ends: under Miri, a
        // block kept by the panicking node would show as a leak.
        std::thread::spawn(|| {
            let node = Shared::new((Explosive, [1u8; 100]));
            let weak = Shared::downgrade(&node);
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(node)));
            assert!(unwound.is_err());
            assert_eq!(weak.strong_count(), 0);
            assert!(weak.upgrade().is_none());
        })
        .join()
        .expect("the thread");
    }

    #[test]
    fn a_cells_head_is_no_bigger_than_an_arcs() {
        assert_eq!(
            std::mem::size_of::<Shell<[u64; 4]>>(),
            std::mem::size_of::<[usize; 2]>() + std::mem::size_of::<[u64; 4]>()
        );
    }

    #[test]
    fn get_mut_needs_the_only_handle_strong_or_weak() {
        let mut a = Shared::new(5u64);
        *Shared::get_mut(&mut a).expect("the only handle") += 1;
        let b = a.clone();
        assert!(Shared::get_mut(&mut a).is_none());
        drop(b);
        let weak = Shared::downgrade(&a);
        assert!(Shared::get_mut(&mut a).is_none());
        drop(weak);
        assert_eq!(*Shared::get_mut(&mut a).expect("the only handle again"), 6);
    }

    #[test]
    fn jobs_of_every_size_and_alignment_keep_their_values() {
        #[repr(align(128))]
        struct Wide(u8);
        let small: Vec<Shared<u32>> = (0..5000).map(Shared::new).collect();
        let big = Shared::new([7u8; BIG * 2]);
        let wide = Shared::new(Wide(9));
        assert_eq!(Shared::as_ptr(&wide) as usize % 128, 0);
        assert!(small.iter().enumerate().all(|(i, s)| **s == i as u32));
        assert!(big.iter().all(|&b| b == 7));
        assert_eq!(wide.0, 9);
    }

    #[test]
    fn a_block_outlives_its_thread_while_a_job_cut_from_it_lives() {
        let drops = Arc::new(AtomicUsize::new(0));
        let kept = std::thread::spawn({
            let drops = drops.clone();
            move || {
                let jobs: Vec<_> = (0..100)
                    .map(|_| Shared::new(Counted(drops.clone())))
                    .collect();
                jobs.into_iter().step_by(10).collect::<Vec<_>>()
            }
        })
        .join()
        .expect("the thread");
        assert_eq!(drops.load(Ordering::SeqCst), 90);
        drop(kept);
        assert_eq!(drops.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn handles_cloned_and_dropped_on_many_threads_free_the_node_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(AtomicBool::new(false));
        let jobs: Vec<_> = (0..64)
            .map(|_| Shared::new(Counted(drops.clone())))
            .collect();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mine: Vec<_> = jobs
                    .iter()
                    .map(|j| (j.clone(), Shared::downgrade(j)))
                    .collect();
                let go = go.clone();
                std::thread::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    for (strong, weak) in mine {
                        let again = weak.upgrade();
                        drop(strong);
                        drop(again);
                    }
                })
            })
            .collect();
        drop(jobs);
        go.store(true, Ordering::Release);
        for thread in threads {
            thread.join().expect("a thread");
        }
        assert_eq!(drops.load(Ordering::SeqCst), 64);
    }
}
