// Worker threads do not inherit the TypeScript loader of the thread that started them: register it
// here, then load the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./sweep-worker.ts');
