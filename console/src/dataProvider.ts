import type { DataProvider, GetListParams } from 'react-admin';
import { api, query } from './api';

/**
 * How a resource's list is read:
 * - `strapi`: Strapi v5 REST (`filters[...]`, `sort`, `pagination[...]`, `_q`), the
 *   content types;
 * - `paged`: `page`/`pageSize` plus plain filters, answering `meta.pagination`;
 * - `all`: the route answers every row; paging and sorting happen here.
 */
type Mode = 'strapi' | 'paged' | 'all';

interface Resource {
  list: string;
  mode: Mode;
  /** Where one record is read and written; defaults to `list`. */
  base?: string;
  /** Where writes go when reads come from elsewhere (the public content API). */
  writeBase?: string;
  update?: 'PUT' | 'PATCH';
  /** The field that identifies a row, when not `documentId`. */
  key?: string;
  /** Relations a `strapi` list populates for its columns. */
  populate?: string[];
  /** Strapi filters on a relation compare this field of the related entry. */
  relations?: string[];
  /** Writes wrap the input as Strapi does: `{ "data": { ... } }`. */
  envelope?: boolean;
  /** Updates send only the fields that changed (the route leaves absent ones as they are). */
  partial?: boolean;
  /** List filters sent as they are (the `paged` routes' own names). */
  passthrough?: string[];
  /** Where the rows and total sit in a list answer, when not `data` / `meta.pagination`. */
  rows?: (body: any) => { rows: any[]; total: number };
  /** Where the record sits in a one-record answer, when not `data`. */
  one?: (body: any) => any;
  /**
   * The record as forms hold it: relations the API answers as objects become the
   * ids its writes take (react-admin's reference inputs fetch by these ids).
   */
  normalize?: (row: any) => any;
}

const audienceIds = (audiences: { documentId: string }[] | undefined) => (audiences ?? []).map((a) => a.documentId);

const RESOURCES: Record<string, Resource> = {
  articles: {
    list: '/admin/articles',
    mode: 'strapi',
    populate: ['author', 'category'],
    envelope: true,
    partial: true,
    relations: ['category', 'tags', 'author'],
  },
  authors: { list: '/api/authors', mode: 'strapi', writeBase: '/admin/authors', envelope: true, partial: true },
  categories: {
    list: '/api/categories',
    mode: 'strapi',
    writeBase: '/admin/categories',
    envelope: true,
    partial: true,
  },
  tags: { list: '/api/tags', mode: 'strapi', writeBase: '/admin/tags', envelope: true, partial: true },
  uploads: { list: '/admin/uploads', mode: 'strapi' },
  users: { list: '/admin/users', mode: 'all', update: 'PATCH', partial: true },
  tokens: { list: '/admin/tokens', mode: 'all' },
  webhooks: { list: '/admin/webhooks', mode: 'all', partial: true },
  // Entries have no id of their own; their place in the newest-first list is one.
  audit: { list: '/admin/audit', mode: 'all', key: '#' },
  members: { list: '/admin/members', mode: 'paged' },
  orders: {
    list: '/admin/orders',
    mode: 'paged',
    passthrough: ['status', 'channel', 'product', 'member', 'from', 'to'],
    rows: (body) => ({ rows: body.data.orders, total: body.data.total }),
    // The order with its history, one record for the show page.
    one: (body) => ({ ...body.data.order, events: body.data.events }),
  },
  products: { list: '/admin/products', mode: 'all', envelope: true, partial: true },
  subscribers: {
    list: '/admin/subscribers',
    mode: 'paged',
    envelope: true,
    passthrough: ['list', 'status'],
    rows: (body) => ({ rows: body.data.subscribers, total: body.data.total }),
    normalize: (row) => ({ ...row, memberships: row.lists, lists: row.lists.map((m: { list: string }) => m.list) }),
  },
  lists: { list: '/admin/lists', mode: 'all', envelope: true },
  templates: { list: '/admin/templates', mode: 'all', envelope: true },
  campaigns: {
    list: '/admin/campaigns',
    mode: 'all',
    envelope: true,
    normalize: (row) => ({ ...row, lists: audienceIds(row.lists), segment: row.segment?.documentId ?? null }),
  },
  automations: {
    list: '/admin/automations',
    mode: 'all',
    envelope: true,
    normalize: (row) => ({ ...row, list: row.list?.documentId ?? null }),
  },
  segments: { list: '/admin/segments', mode: 'all', envelope: true },
  suppressions: {
    list: '/admin/suppressions',
    mode: 'paged',
    envelope: true,
    key: 'email',
    rows: (body) => ({ rows: body.data.suppressions, total: body.data.total }),
  },
  promotions: { list: '/admin/promotions', mode: 'all', envelope: true, partial: true },
};

export function resource(name: string): Resource {
  const found = RESOURCES[name];
  if (!found) throw new Error(`the console has no resource "${name}"`);
  return found;
}

const withId = (key: string, normalize?: (row: any) => any) => (row: any, index = 0): any => ({
  ...(normalize ? normalize(row) : row),
  id: key === '#' ? index : row[key],
});

function strapiQuery(r: Resource, { pagination, sort, filter }: GetListParams) {
  const params: Record<string, unknown> = {
    'pagination[page]': pagination?.page,
    'pagination[pageSize]': pagination?.perPage,
  };
  if (sort?.field && sort.field !== 'id') params.sort = `${sort.field}:${sort.order.toLowerCase()}`;
  r.populate?.forEach((relation, i) => {
    params[`populate[${i}]`] = relation;
  });
  for (const [field, value] of Object.entries(filter ?? {})) {
    if (value === undefined || value === '') continue;
    if (field === 'q') params._q = value;
    else if (field === 'locale' || field === 'status' || field === 'populate') params[field] = value;
    else if (r.relations?.includes(field)) params[`filters[${field}][documentId][$eq]`] = value;
    else params[`filters[${field}][$eq]`] = value;
  }
  return query(params);
}

function compare(a: any, b: any) {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  return a < b ? -1 : 1;
}

export const dataProvider: DataProvider = {
  async getList(name, params) {
    const r = resource(name);
    const key = r.key ?? 'documentId';
    if (r.mode === 'all') {
      const { body } = await api<{ data: any[] }>(r.list);
      let rows = (r.rows ? r.rows(body).rows : body.data).map(withId(key, r.normalize));
      const q = String(params.filter?.q ?? '').toLowerCase();
      if (q) rows = rows.filter((row) => JSON.stringify(row).toLowerCase().includes(q));
      if (params.sort?.field) {
        const { field, order } = params.sort;
        rows = [...rows].sort((a, b) => compare(a[field], b[field]) * (order === 'ASC' ? 1 : -1));
      }
      const { page, perPage } = params.pagination ?? { page: 1, perPage: rows.length };
      return { data: rows.slice((page - 1) * perPage, page * perPage), total: rows.length };
    }
    const search =
      r.mode === 'strapi'
        ? strapiQuery(r, params)
        : query({
            page: params.pagination?.page,
            pageSize: params.pagination?.perPage,
            ...Object.fromEntries(
              Object.entries(params.filter ?? {}).filter(([f]) => f === 'q' || r.passthrough?.includes(f)),
            ),
          });
    const { body } = await api<{ data: any[]; meta: any }>(`${r.list}${search}`);
    const { rows, total } = r.rows
      ? r.rows(body)
      : { rows: body.data, total: body.meta?.pagination?.total ?? body.data.length };
    return { data: rows.map(withId(key, r.normalize)), total };
  },

  async getOne(name, { id }) {
    const r = resource(name);
    const { body } = await api<{ data: any }>(`${r.base ?? r.list}/${encodeURIComponent(String(id))}`);
    return { data: withId(r.key ?? 'documentId', r.normalize)(r.one ? r.one(body) : body.data) };
  },

  /** One request where the route allows it: reference inputs ask for every tag or list shown. */
  async getMany(name, { ids }) {
    const r = resource(name);
    const key = r.key ?? 'documentId';
    if (r.mode === 'strapi' && !r.key) {
      const params: Record<string, unknown> = { 'pagination[pageSize]': ids.length || 1 };
      ids.forEach((id, i) => {
        params[`filters[documentId][$in][${i}]`] = id;
      });
      const { body } = await api<{ data: any[] }>(`${r.list}${query(params)}`);
      return { data: body.data.map(withId(key, r.normalize)) };
    }
    if (r.mode === 'all') {
      const { body } = await api<{ data: any[] }>(r.list);
      const rows = (r.rows ? r.rows(body).rows : body.data).map(withId(key, r.normalize));
      const wanted = new Set(ids.map(String));
      return { data: rows.filter((row: any) => wanted.has(String(row.id))) };
    }
    const all = await Promise.all(ids.map((id) => dataProvider.getOne(name, { id })));
    return { data: all.map((a) => a.data) };
  },

  async getManyReference(name, params) {
    return dataProvider.getList(name, {
      ...params,
      filter: { ...params.filter, [params.target]: params.id },
    });
  },

  async create(name, { data }) {
    const r = resource(name);
    const { body } = await api<{ data: any }>(r.writeBase ?? r.base ?? r.list, {
      method: 'POST',
      json: r.envelope ? { data } : data,
    });
    // A 204 (suppressions) answers nothing: the record is what was sent.
    return { data: withId(r.key ?? 'documentId', r.normalize)(body?.data ?? data) } as any;
  },

  async update(name, { id, data, previousData }) {
    const r = resource(name);
    let changed: Record<string, unknown> = data;
    if (r.partial) {
      changed = {};
      for (const [field, value] of Object.entries(data)) {
        if (JSON.stringify(value) !== JSON.stringify((previousData as any)?.[field])) changed[field] = value;
      }
    }
    const { body } = await api<{ data: any }>(
      `${r.writeBase ?? r.base ?? r.list}/${encodeURIComponent(String(id))}`,
      { method: r.update ?? 'PUT', json: r.envelope ? { data: changed } : changed },
    );
    return { data: withId(r.key ?? 'documentId', r.normalize)(body.data) } as any;
  },

  async updateMany(name, params) {
    const ids = [];
    for (const id of params.ids) {
      await dataProvider.update(name, { id, data: params.data, previousData: {} as any });
      ids.push(id);
    }
    return { data: ids };
  },

  async delete(name, { id, previousData }) {
    const r = resource(name);
    await api(`${r.writeBase ?? r.base ?? r.list}/${encodeURIComponent(String(id))}`, {
      method: 'DELETE',
    });
    return { data: previousData as any };
  },

  async deleteMany(name, { ids }) {
    for (const id of ids) await dataProvider.delete(name, { id });
    return { data: ids };
  },
};
