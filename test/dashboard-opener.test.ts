import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desktopOpener } from '../src/commands/dashboard.js';

test('the dashboard opens the URL with the desktop\'s opener, and only where there is a desktop', () => {
  const url = 'http://localhost:18790/#token=abc';
  assert.deepEqual(desktopOpener(url, {}, 'darwin'), { command: 'open', args: [url] });
  assert.deepEqual(desktopOpener(url, {}, 'win32'), { command: 'cmd', args: ['/c', 'start', '""', url] });
  assert.deepEqual(desktopOpener(url, { DISPLAY: ':0' }, 'linux'), { command: 'xdg-open', args: [url] });
  assert.deepEqual(desktopOpener(url, { WAYLAND_DISPLAY: 'wayland-0' }, 'linux'), { command: 'xdg-open', args: [url] });
  assert.equal(desktopOpener(url, {}, 'linux'), null, 'a server without a desktop only prints the URL');
});
