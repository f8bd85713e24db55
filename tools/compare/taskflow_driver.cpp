// Taskflow driver for tools/compare, built against Taskflow's headers (not part of this
// repository: `compare` passes their folder with -I).
//
// usage: taskflow_driver SHAPE_FILE THREADS WORK_NS REPS
// SHAPE_FILE holds little-endian u32s: n, edges, start[0..=n], reqs (job i requires
// reqs[start[i]..start[i+1]], all earlier jobs). One tf::Executor of THREADS workers is
// made before the first rep and kept: Taskflow's executor is its standing pool, as
// jobgraph's global pool and the rayon DAG's pool are kept across runs. Each rep builds
// a tf::Taskflow with one task per job (an empty lambda, or a spin of WORK_NS) and one
// precede per requirement, then runs it on the executor and waits; prints
// "build_ns run_ns" per rep, then "rss_bytes B": peak RSS growth over the first rep.
// The taskflow is destroyed after the clock stops, as the other systems' graphs are.
#include <taskflow/taskflow.hpp>

#include "driver_common.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>


int main(int argc, char** argv) {
    Shape shape;
    if (!read_shape(argc, argv, shape)) return 2;
    const uint32_t n = shape.n;
    const std::vector<uint32_t>& start = shape.start;
    const std::vector<uint32_t>& reqs = shape.reqs;
    const int threads = shape.threads;
    const long work = shape.work;
    const int reps = shape.reps;
    long rss_before = status_kb("VmRSS:");
    tf::Executor executor(static_cast<size_t>(threads));
    long rss_growth = 0;
    std::vector<tf::Task> tasks;
    for (int rep = 0; rep < reps; rep++) {
        auto t0 = clk::now();
        auto flow = std::make_unique<tf::Taskflow>();
        tasks.clear();
        tasks.reserve(n);
        for (uint32_t i = 0; i < n; i++) {
            tf::Task task = work > 0 ? flow->emplace([work] { spin(work); }) : flow->emplace([] {});
            for (uint32_t k = start[i]; k < start[i + 1]; k++) tasks[reqs[k]].precede(task);
            tasks.push_back(task);
        }
        auto t1 = clk::now();
        executor.run(*flow).wait();
        auto t2 = clk::now();
        if (rep == 0) rss_growth = (status_kb("VmHWM:") - rss_before) * 1024;
        std::printf("%lld %lld\n",
                    (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(),
                    (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count());
        flow.reset();
    }
    std::printf("rss_bytes %ld\n", rss_growth);
    return 0;
}
