// Another process's memory and CPU time as Linux reports them in /proc: the resident set (VmRSS, VmHWM) of
// /proc/<pid>/status and the CPU time (utime + stime, every thread) of /proc/<pid>/stat, in clock ticks of
// `getconf CLK_TCK`. Read from outside, so measuring costs the process nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;

/** CLK_TCK, the unit of utime and stime (100 on every usual Linux). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const raw = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`getconf CLK_TCK printed ${JSON.stringify(raw)}`);
    ticksPerSecond = value;
  }
  return ticksPerSecond;
}

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Resident set size now, in bytes. */
export const rssBytes = (pid: number) => statusField(pid, 'VmRSS');
/** The largest resident set size so far, in bytes. */
export const peakRssBytes = (pid: number) => statusField(pid, 'VmHWM');

/** User plus system CPU time the process (all its threads) has used so far, in ms (a tick's resolution). */
export function cpuTimeMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count the fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name (state is field 3).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error(`unexpected /proc/${pid}/stat: ${stat}`);
  return ((utime + stime) * 1000) / clockTicksPerSecond();
}
