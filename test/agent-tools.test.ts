import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createToolRegistry, type AgentTool, type ToolContext } from '../worker/agent/tool-registry.js';
import { createCurrentTimeTool, isoInZone } from '../worker/agent/tools/current-time.js';

const CONTEXT: ToolContext = { sessionKey: 'main:api:t', agentId: 'main', channel: 'api', peerId: 't', signal: new AbortController().signal };

describe('current_time tool', () => {
  // 2025-01-15T12:34:56Z: winter in the north.
  const tool = createCurrentTimeTool(() => new Date(Date.UTC(2025, 0, 15, 12, 34, 56)));

  test('answers in UTC by default', async () => {
    const answer = JSON.parse((await tool.execute({}, CONTEXT)) as string);
    assert.equal(answer.timezone, 'UTC');
    assert.equal(answer.iso, '2025-01-15T12:34:56+00:00');
    assert.equal(answer.utc, '2025-01-15T12:34:56.000Z');
    assert.match(answer.local, /Wednesday, January 15, 2025/);
  });

  test('answers in the requested time zone with its offset', async () => {
    const answer = JSON.parse((await tool.execute({ timezone: 'Asia/Kolkata' }, CONTEXT)) as string);
    assert.equal(answer.iso, '2025-01-15T18:04:56+05:30');
    assert.equal(isoInZone(new Date(Date.UTC(2025, 6, 1, 3, 0, 0)), 'America/New_York'), '2025-06-30T23:00:00-04:00');
  });

  test('an unknown time zone is an error result for the model', async () => {
    const answer = await tool.execute({ timezone: 'Mars/Olympus' }, CONTEXT);
    assert.deepEqual(answer, { text: 'Unknown time zone "Mars/Olympus". Use an IANA name such as "Europe/Paris" or "UTC".', isError: true });
  });
});

describe('tool registry', () => {
  const tool = (name: string): AgentTool => ({ name, description: 'test', parameters: { type: 'object', properties: {} }, execute: () => 'ok' });

  test('registers in order, refuses duplicates and bad names, and unregisters', () => {
    const registry = createToolRegistry();
    const removeA = registry.register(tool('tool_a'));
    registry.register(tool('tool-b'));
    assert.deepEqual(registry.list().map((t) => t.name), ['tool_a', 'tool-b']);
    assert.throws(() => registry.register(tool('tool_a')), /already registered/);
    assert.throws(() => registry.register(tool('has space')), /Invalid tool name/);
    assert.throws(() => registry.register({ ...tool('arr'), parameters: { type: 'array' } }), /type "object"/);
    removeA();
    assert.equal(registry.get('tool_a'), undefined);
    assert.deepEqual(registry.list().map((t) => t.name), ['tool-b']);
  });
});
