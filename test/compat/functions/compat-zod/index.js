const { z } = require('zod');

const Order = z.object({ id: z.string().min(1), qty: z.number().int().positive() });

exports.handler = async (event) => {
  const r = Order.safeParse(event);
  return r.success ? { ok: true, order: r.data } : { ok: false, issues: r.error.issues.map((i) => i.path.join('.')) };
};
