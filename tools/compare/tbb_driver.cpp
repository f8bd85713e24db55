// oneTBB flow_graph driver for tools/compare.
//
// usage: tbb_driver SHAPE_FILE THREADS WORK_NS REPS
// SHAPE_FILE holds little-endian u32s: n, edges, start[0..=n], reqs (job i requires
// reqs[start[i]..start[i+1]], all earlier jobs). Each rep builds a flow::graph with one
// continue_node per job and one edge per requirement, then runs it; prints
// "build_ns run_ns" per rep, then "rss_bytes B": peak RSS growth over the first rep.
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

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

using namespace oneapi::tbb;
using node_t = flow::continue_node<flow::continue_msg>;

int main(int argc, char** argv) {
    Shape shape;
    if (!read_shape(argc, argv, shape)) return 2;
    const uint32_t n = shape.n;
    const std::vector<uint32_t>& start = shape.start;
    const std::vector<uint32_t>& reqs = shape.reqs;
    const int threads = shape.threads;
    const long work = shape.work;
    const int reps = shape.reps;
    global_control control(global_control::max_allowed_parallelism, threads);
    task_arena arena(threads);
    long rss_before = status_kb("VmRSS:");
    long rss_growth = 0;
    for (int rep = 0; rep < reps; rep++) {
        arena.execute([&] {
            auto t0 = clk::now();
            auto g = std::make_unique<flow::graph>();
            std::vector<std::unique_ptr<node_t>> nodes;
            nodes.reserve(n);
            for (uint32_t i = 0; i < n; i++) {
                nodes.emplace_back(new node_t(*g, [work](const flow::continue_msg&) { spin(work); }));
                for (uint32_t k = start[i]; k < start[i + 1]; k++) flow::make_edge(*nodes[reqs[k]], *nodes[i]);
            }
            auto t1 = clk::now();
            for (uint32_t i = 0; i < n; i++)
                if (start[i] == start[i + 1]) nodes[i]->try_put(flow::continue_msg());
            g->wait_for_all();
            auto t2 = clk::now();
            if (rep == 0) rss_growth = (status_kb("VmHWM:") - rss_before) * 1024;
            std::printf("%lld %lld\n",
                        (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(),
                        (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count());
            nodes.clear();
            g.reset();
        });
    }
    std::printf("rss_bytes %ld\n", rss_growth);
    return 0;
}
