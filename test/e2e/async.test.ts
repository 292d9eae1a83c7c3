// Async invocations on a single node (SQLite queue): the suite cluster mode runs too.

import { describeAsyncInvocations } from './async-suite.ts';
import { ThawServer } from './harness.ts';

describeAsyncInvocations('single node', (args) => ThawServer.start(args));
