// The process-start floor of the benchmarks (scripts/bench): a program
// that does nothing, built static (and once dynamic, to show what the
// dynamic loader adds), launched exactly as each measured command is.
fn main() {}
