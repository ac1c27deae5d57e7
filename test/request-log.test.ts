import t from 'tap';
import { withoutSecrets } from '../src/http/request-log.js';

t.test('logged URLs never carry a key or a secret-looking parameter', async (t) => {
  t.equal(withoutSecrets('/orders/1234'), '/orders/1234', 'a plain path is logged as it is');
  t.equal(withoutSecrets('/orders?limit=50&cursor=abc'), '/orders?limit=50&cursor=abc', 'ordinary parameters stay');
  t.equal(withoutSecrets('/orders?access_token=osk_abc123'), '/orders?access_token=[redacted]');
  t.equal(withoutSecrets('/orders?limit=5&api_key=secret'), '/orders?limit=5&api_key=[redacted]');
  t.equal(withoutSecrets('/orders&token=abc'), '/orders&token=[redacted]', 'a parameter after & without any ? is redacted too');
  t.equal(withoutSecrets('/orders/osk_leakedkey'), '/orders/osk_[redacted]', 'a key pasted into the path');
});
