import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/hubsync.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `hubsync <args>` as a real process and collects its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return finished(startCli(args, env));
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: '', HUBSYNC_CONFIG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => (output.stdout += String(chunk)));
  child.stderr!.on('data', (chunk) => (output.stderr += String(chunk)));
  return Object.assign(child, { output });
}

export function finished(child: ReturnType<typeof startCli>): Promise<Finished> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, ...child.output }));
  });
}

/** Resolves once the process has printed a line matching `pattern` (on stdout or stderr). */
export function waitForOutput(child: ReturnType<typeof startCli>, pattern: RegExp, timeoutMs = 90_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pattern.test(child.output.stdout) || pattern.test(child.output.stderr)) {
        cleanup();
        resolve();
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`process exited before printing ${pattern}:\n${child.output.stdout}\n${child.output.stderr}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}:\n${child.output.stdout}\n${child.output.stderr}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.stderr!.off('data', check);
      child.off('close', onClose);
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.on('close', onClose);
    check();
  });
}
