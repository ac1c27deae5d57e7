import t from 'tap';
import { rateLimitedClient } from '../../../src/http/client-address.js';

t.test('an IPv4 client is counted by its address', async (t) => {
  t.equal(rateLimitedClient('203.0.113.7'), '203.0.113.7');
  t.not(rateLimitedClient('203.0.113.7'), rateLimitedClient('203.0.113.8'));
});

t.test('an IPv6 client is counted by its /64, however it writes its address', async (t) => {
  const network = rateLimitedClient('2001:db8:1:2::1');
  t.equal(network, '2001:db8:1:2::/64');
  for (const same of [
    '2001:db8:1:2:ffff:ffff:ffff:ffff',
    '2001:0db8:0001:0002:0000:0000:0000:0099',
    '2001:DB8:1:2:a:b:c:d',
    '2001:db8:1:2::abcd%eth0',
    '2001:db8:1:2::192.0.2.1',
  ]) {
    t.equal(rateLimitedClient(same), network, same);
  }
  t.equal(rateLimitedClient('2001:db8:1:3::1'), '2001:db8:1:3::/64', 'the next /64 is another client');
  t.equal(rateLimitedClient('::1'), '0:0:0:0::/64');
});

t.test('an IPv4-mapped IPv6 address is the IPv4 client it stands for', async (t) => {
  t.equal(rateLimitedClient('::ffff:203.0.113.7'), '203.0.113.7');
  t.equal(rateLimitedClient('::ffff:cb00:7107'), '203.0.113.7');
});

t.test('anything else is counted as it is', async (t) => {
  t.equal(rateLimitedClient('not-an-address'), 'not-an-address');
});
