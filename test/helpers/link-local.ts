// A link-local address this machine can reach, for the tests that show a function's network
// namespace cannot: a network namespace the test makes itself, joined to the host by a veth pair
// (169.254.N.1 on the host's end, 169.254.N.2 inside), with a TCP listener on 169.254.N.2. Nothing
// leaves the machine. Needs root and iproute2.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface LinkLocalListener {
  host: string;
  port: number;
  /** Whether the host itself connects to it (the control: the address is reachable from here). */
  reachableFromHost(): boolean;
  close(): void;
}

/** A TCP listener on 0.0.0.0 inside the network namespace at `nsPath` (a real process). */
export async function listenInNamespace(nsPath: string): Promise<{ port: number; child: ChildProcess }> {
  const script = "const s=require('node:net').createServer((c)=>c.end()).listen(0,'0.0.0.0',()=>process.stdout.write(String(s.address().port)+'\\n'));";
  const child = spawn('nsenter', [`--net=${nsPath}`, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { port: Number(line.toString().trim()), child };
}

export async function linkLocalListener(ipPath = 'ip'): Promise<LinkLocalListener> {
  const octet = 100 + (process.pid % 100);
  const name = `thawtest-ll-${process.pid}`;
  const hostEnd = `thll${process.pid % 100000}h`;
  const ip = (...args: string[]) => execFileSync(ipPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  ip('netns', 'add', name);
  try {
    ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'll0', 'netns', name);
    ip('addr', 'add', `169.254.${octet}.1/24`, 'dev', hostEnd);
    ip('link', 'set', hostEnd, 'up');
    ip('-n', name, 'addr', 'add', `169.254.${octet}.2/24`, 'dev', 'll0');
    ip('-n', name, 'link', 'set', 'll0', 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
    const listener = await listenInNamespace(`/run/netns/${name}`);
    const host = `169.254.${octet}.2`;
    return {
      host,
      port: listener.port,
      reachableFromHost: () =>
        execFileSync(
          process.execPath,
          ['-e', `require('node:net').connect(${JSON.stringify({ host, port: listener.port })}).on('connect',()=>{process.stdout.write('connected');process.exit(0)}).on('error',(e)=>{process.stdout.write(e.code);process.exit(0)})`],
          { encoding: 'utf8' },
        ) === 'connected',
      close: () => {
        listener.child.kill('SIGKILL');
        ip('netns', 'delete', name); // (takes the veth pair with it)
      },
    };
  } catch (error) {
    ip('netns', 'delete', name);
    throw error;
  }
}
