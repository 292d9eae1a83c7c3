import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkBundle, stripInlineSourceMap } from '../../../../src/platform/accelerators/isolate/compat.ts';

describe('isolate compatibility of a bundle', () => {
  it('lets through what an isolate provides', () => {
    assert.deepEqual(checkBundle('var c = require("node:crypto"); var u = require("url"); var l = require("lodash");'), { compatible: true });
  });

  it('refuses the file system, processes, sockets and native code, naming each', () => {
    const v = checkBundle('require("fs"); require("node:child_process"); require("https"); require("./build/Release/addon.node");');
    assert.equal(v.compatible, false);
    const reason = (v as { reason: string }).reason;
    for (const part of ['fs (the file system)', 'child_process (processes)', 'https (sockets)', 'native code (./build/Release/addon.node)', 'runs in a container']) assert.ok(reason.includes(part), reason);
  });

  it('drops an inline source map before the code goes to the host', () => {
    assert.equal(stripInlineSourceMap('x();\n//# sourceMappingURL=data:application/json;base64,AAAA\n'), 'x();\n');
  });
});
