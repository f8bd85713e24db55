// What the C++ drivers of tools/compare share: the shape file, the arguments, a busy
// wait of WORK_NS, and the resident memory, so that each driver holds only its peer's
// build and run.
//
// usage of a driver: DRIVER SHAPE_FILE THREADS WORK_NS REPS
// SHAPE_FILE holds little-endian u32s: n, edges, start[0..=n], reqs (job i requires
// reqs[start[i]..start[i+1]], all earlier jobs).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using clk = std::chrono::steady_clock;

// A field of /proc/self/status, in kB (VmRSS:, VmHWM:).
static long status_kb(const char* key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    size_t len = std::strlen(key);
    while (std::getline(f, line)) {
        if (line.compare(0, len, key) == 0) return std::atol(line.c_str() + len + 1);
    }
    return 0;
}

// Busy for `ns` nanoseconds: a job's work.
static inline void spin(long ns) {
    if (ns <= 0) return;
    auto end = clk::now() + std::chrono::nanoseconds(ns);
    while (clk::now() < end) {
    }
}

// The shape and the arguments of a run.
struct Shape {
    uint32_t n = 0;
    std::vector<uint32_t> start, reqs;
    int threads = 1;
    long work = 0;
    int reps = 1;
};

// Reads the arguments and the shape file; false (having said why) when they are wrong.
static bool read_shape(int argc, char** argv, Shape& shape) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s SHAPE_FILE THREADS WORK_NS REPS\n", argv[0]);
        return false;
    }
    std::ifstream in(argv[1], std::ios::binary);
    uint32_t head[2] = {0, 0};
    in.read(reinterpret_cast<char*>(head), sizeof head);
    shape.n = head[0];
    uint32_t edges = head[1];
    shape.start.resize(shape.n + 1);
    shape.reqs.resize(edges);
    in.read(reinterpret_cast<char*>(shape.start.data()), 4 * (shape.n + 1));
    in.read(reinterpret_cast<char*>(shape.reqs.data()), 4 * edges);
    if (!in) {
        std::fprintf(stderr, "cannot read %s\n", argv[1]);
        return false;
    }
    shape.threads = std::atoi(argv[2]);
    shape.work = std::atol(argv[3]);
    shape.reps = std::atoi(argv[4]);
    if (shape.threads < 1) shape.threads = 1;
    return true;
}
