/**
 * OpenAPI links (3.1 §4.8.20): where an answer leads next, e.g. the order a POST /orders accepted
 * to its GET and its cancel. Clients and stateful testers (schemathesis) follow them; a route's zod
 * schema cannot state them, so they are added to the generated document here.
 */

interface Link {
  operationRef: string;
  parameters?: Record<string, string>;
  requestBody?: unknown;
  description: string;
}

/** `#/paths/<escaped path>/<method>`, a JSON pointer to an operation of this document, as a URI fragment (braces percent-encoded). */
function operation(method: string, path: string): string {
  return `#/paths/${encodeURIComponent(path.replaceAll('~', '~0').replaceAll('/', '~1'))}/${method}`;
}

const getOrder = (id: string): Link => ({
  operationRef: operation('get', '/api/v1/orders/{id}'),
  parameters: { id },
  description: 'The order: its status, items, payment and timeline',
});
const cancelOrder = (id: string): Link => ({
  operationRef: operation('post', '/api/v1/orders/{id}/cancel'),
  parameters: { id },
  description: 'Cancel the order while its saga allows it',
});

/** The links of each operation's answers, by path, method and status. */
const links: Record<string, Record<string, Record<string, Record<string, Link>>>> = {
  '/api/v1/orders': {
    post: { 202: { GetOrder: getOrder('$response.body#/order_id'), CancelOrder: cancelOrder('$response.body#/order_id') } },
    get: { 200: { GetOrder: getOrder('$response.body#/data/0/order_id'), CancelOrder: cancelOrder('$response.body#/data/0/order_id') } },
  },
  '/api/v1/orders/{id}/cancel': {
    post: { 202: { GetOrder: getOrder('$response.body#/order_id') } },
  },
  '/api/v1/products': {
    get: {
      200: {
        GetProduct: { operationRef: operation('get', '/api/v1/products/{id}'), parameters: { id: '$response.body#/data/0/id' }, description: 'The product, with its variants' },
        AddToCart: {
          operationRef: operation('post', '/api/v1/cart/items'),
          requestBody: { product_id: '$response.body#/data/0/id', quantity: 1 },
          description: 'Put one of the product in the cart',
        },
      },
    },
  },
  '/api/v1/cart/items': {
    post: {
      201: {
        PlaceOrder: {
          operationRef: operation('post', '/api/v1/orders'),
          requestBody: {
            from_cart: true,
            shipping_address: { address_line1: '1 Main Street', city: 'Springfield', state: 'IL', postal_code: '62701', country: 'US' },
            payment: { method: 'card', token: 'tok_visa' },
          },
          description: 'Order what the cart holds',
        },
        RemoveFromCart: {
          operationRef: operation('delete', '/api/v1/cart/items/{product_id}'),
          parameters: { product_id: '$request.body#/product_id' },
          description: 'Take the product out of the cart again',
        },
      },
    },
  },
};

interface Document {
  paths?: Record<string, Record<string, { responses?: Record<string, { links?: Record<string, Link> }> } | undefined> | undefined>;
}

/** The document with the links of `links` on the answers they start from. */
export function withLinks<T>(document: T): T {
  const paths = (document as Document).paths ?? {};
  for (const [path, methods] of Object.entries(links)) {
    for (const [method, statuses] of Object.entries(methods)) {
      const responses = paths[path]?.[method]?.responses;
      if (!responses) throw new Error(`the OpenAPI document has no ${method.toUpperCase()} ${path} to link from`);
      for (const [status, linksOfStatus] of Object.entries(statuses)) {
        const response = responses[status];
        if (!response) throw new Error(`${method.toUpperCase()} ${path} documents no ${status} to link from`);
        response.links = linksOfStatus;
      }
    }
  }
  return document;
}
