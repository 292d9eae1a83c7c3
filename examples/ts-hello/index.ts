// ts-hello — hello in TypeScript: `thaw deploy examples/ts-hello`, then invoke it with {"name": "Ada", "excited": true}.
// thaw compiles it with esbuild when it is deployed (types are stripped, not checked: run tsc yourself).

/** What thaw passes as the second argument (see thaw's runtime protocol). */
export interface Context {
  invocationId: string;
  functionName: string;
  version: number;
  memoryMb: number;
  /** Epoch ms by which the invocation must finish. */
  deadlineMs: number;
}

export interface HelloEvent {
  name?: string;
  excited?: boolean;
}

export interface Greeting {
  message: string;
  invocationsInThisInstance: number;
  remainingMs: number;
}

let invocations = 0;

function greet(name: string, excited: boolean): string {
  return `Hello, ${name}${excited ? '!' : '.'}`;
}

export async function handler(event: HelloEvent | null, context: Context): Promise<Greeting> {
  invocations += 1;
  const name = event?.name?.trim() || 'world';
  return {
    message: greet(name, event?.excited ?? false),
    invocationsInThisInstance: invocations,
    remainingMs: Math.max(0, context.deadlineMs - Date.now()),
  };
}

export function afterRestore(): void {
  invocations = 0;
}
