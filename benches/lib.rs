//! jobgraph's criterion benches, one file per Taskflow shape beside this one
//! (`cargo bench -p jobgraph-benches`); this library is empty.
