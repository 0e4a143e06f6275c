#!/usr/bin/env python3
"""How fast the kernel's copy_file_range is for the copy patterns a writer can use (issue 21).

`cp` copies a whole file with one copy_file_range from offset 0 to offset 0. `apply` writes a new
header and the edited tensors first and then copies the untouched rest from the input's offset H
(the input's header and first tensors) to the output's offset H + Δ (its header is longer by the
provenance). This probe times, on one 1 GiB file of random bytes, side by side in rotating order:

  cp                     coreutils cp
  whole 0->0             one copy_file_range of the whole file (what cp does)
  head, then H->H+32     write H + 32 bytes, then copy [H, N) (apply's pattern)
  H->H (hole before)     copy [H, N) to the same offsets of an empty file
  0->0, then pwrite head copy the whole file, then overwrite its first H bytes (a writer that
                         keeps the input's layout)

Usage: python3 Benchmarks/copy_offset_probe.py [--workdir DIR] [--runs 11] [--offset 4218024]
(the default H is the edited-write benchmark's: an 8-byte length, a 23 712-byte header, one 4 MiB tensor).
"""
import argparse
import os
import platform
import statistics
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("--workdir", default="/var/tmp/mf-copy-probe")
parser.add_argument("--runs", type=int, default=11)
parser.add_argument("--offset", type=int, default=4218024)
parser.add_argument("--mib", type=int, default=1024)
args = parser.parse_args()

os.makedirs(args.workdir, exist_ok=True)
source_path = os.path.join(args.workdir, "input.bin")
output_path = os.path.join(args.workdir, "output.bin")
size = args.mib << 20
if not os.path.exists(source_path) or os.path.getsize(source_path) != size:
    with open(source_path, "wb") as f:
        for _ in range(args.mib):
            f.write(os.urandom(1 << 20))
H = args.offset
head = os.urandom(H + 32)
source = os.open(source_path, os.O_RDONLY)


def copy(destination, start, end, destination_offset=None):
    offset = start
    while offset < end:
        if destination_offset is None:
            offset += os.copy_file_range(source, destination, end - offset, offset)
        else:
            done = os.copy_file_range(source, destination, end - offset, offset, destination_offset + offset - start)
            offset += done


def open_output():
    return os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def whole():
    d = open_output(); copy(d, 0, size); os.close(d)


def head_then_rest():
    d = open_output(); os.write(d, head); copy(d, H, size); os.close(d)


def same_offsets():
    d = open_output(); copy(d, H, size, H); os.close(d)


def whole_then_patch():
    d = open_output(); copy(d, 0, size); os.pwrite(d, head[:H], 0); os.close(d)


def cp():
    subprocess.run(["cp", source_path, output_path], check=True)


cases = [("cp", cp), ("whole 0->0", whole), ("head, then H->H+32", head_then_rest), ("H->H (hole before)", same_offsets),
         ("0->0, then pwrite head", whole_then_patch)]
times = {name: [] for name, _ in cases}
for run in range(args.runs):
    rotation = cases[run % len(cases):] + cases[:run % len(cases)]
    for name, body in rotation:
        if os.path.exists(output_path):
            os.unlink(output_path)
        os.sync()
        start = time.perf_counter()
        body()
        times[name].append(time.perf_counter() - start)
os.unlink(output_path)

print(f"# {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; {args.mib} MiB, H = {H}; "
      f"{args.runs} runs each, rotating order; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
print("| copy | median (s) | fastest (s) | median × cp |")
print("|---|---:|---:|---:|")
cp_median = statistics.median(times["cp"])
for name, _ in cases:
    values = times[name]
    print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {statistics.median(values) / cp_median:.2f} |")
