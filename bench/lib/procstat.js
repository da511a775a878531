// Process figures for the benchmarks, read from /proc, and optional perf
// profiles of the processes under load.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

// utime + stime of a process in seconds (0 once it is gone).
function cpuSeconds(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // fields 14, 15
  } catch {
    return 0;
  }
}

// Context switches (voluntary + involuntary) of the threads of a process, by
// thread name; '*' holds the total. Threads that ended are not counted.
function ctxSwitches(pid) {
  const by = { '*': 0 };
  let tasks;
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return by; }
  for (const t of tasks) {
    let st;
    try { st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'); } catch { continue; }
    const name = /^Name:\s+(.*)$/m.exec(st)[1];
    for (const m of st.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) {
      by[name] = (by[name] || 0) + Number(m[1]);
      by['*'] += Number(m[1]);
    }
  }
  return by;
}

// BENCH_PERF=<dir>: `perf record` the processes (BENCH_PERF_ARGS, default
// defArgs) into <dir>/<name>.data until stopProfile; otherwise nothing.
function startProfile(pids, name, defArgs = '-g -F 999') {
  if (!process.env.BENCH_PERF) return null;
  fs.mkdirSync(process.env.BENCH_PERF, { recursive: true });
  const file = path.join(process.env.BENCH_PERF, `${name}.data`);
  const extra = (process.env.BENCH_PERF_ARGS || defArgs).split(' ');
  const child = spawn('perf', ['record', '-q', ...extra, '-o', file, '-p', pids.join(',')],
    { stdio: 'ignore' });
  execFileSync('sleep', ['0.3']);
  return child;
}

// Stops a profile and waits (at most 30 s) for perf to write it.
function stopProfile(child) {
  if (!child) return Promise.resolve();
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  return Promise.race([done, new Promise((r) => setTimeout(r, 30000))]);
}

module.exports = { cpuSeconds, ctxSwitches, startProfile, stopProfile };
