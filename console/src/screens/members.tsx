import {
  Box,
  Button as MuiButton,
  Card,
  CardContent,
  CardHeader,
  Chip,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  MenuItem,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField as MuiTextField,
} from '@mui/material';
import { useCallback, useEffect, useState } from 'react';
import {
  BooleanField,
  Datagrid,
  DateField,
  List,
  SearchInput,
  Show,
  SimpleShowLayout,
  TextField,
  TopToolbar,
  useListContext,
  useNotify,
  usePermissions,
  useRecordContext,
  useRefresh,
  useTranslate,
} from 'react-admin';
import { Link } from 'react-router-dom';
import { api, query } from '../api';
import { can } from '../authProvider';

function ExportMembers() {
  const translate = useTranslate();
  const { filterValues } = useListContext();
  return (
    <MuiButton size="small" href={`/admin/exports/members${query({ q: filterValues.q })}`} download>
      {translate('ra.action.export')} CSV
    </MuiButton>
  );
}

export const members = {
  list: () => (
    <List
      filters={[<SearchInput key="q" source="q" alwaysOn />]}
      actions={
        <TopToolbar>
          <ExportMembers />
        </TopToolbar>
      }
      empty={false}
    >
      <Datagrid rowClick="show" bulkActionButtons={false}>
        <TextField source="email" emptyText="—（微信）" sortable={false} />
        <TextField source="displayName" sortable={false} />
        <BooleanField source="emailVerified" sortable={false} />
        <DateField source="createdAt" showTime sortable={false} />
      </Datagrid>
    </List>
  ),
  show: () => (
    <Show>
      <SimpleShowLayout>
        <TextField source="email" emptyText="—" />
        <TextField source="displayName" />
        <BooleanField source="emailVerified" />
        <DateField source="createdAt" showTime />
        <Identities />
        <OrdersLink />
      </SimpleShowLayout>
      <Entitlements />
      <Sessions />
    </Show>
  ),
};

function Identities() {
  const record = useRecordContext();
  const translate = useTranslate();
  if (!record?.identities?.length) return null;
  return (
    <Box>
      {record.identities.map((i: any) => (
        <Chip key={`${i.appId}:${i.subject}`} label={`${translate('bx.member.wechat')} · ${i.subject}`} sx={{ mr: 1 }} />
      ))}
    </Box>
  );
}

function OrdersLink() {
  const record = useRecordContext();
  const translate = useTranslate();
  const { permissions } = usePermissions();
  if (!record) return null;
  const label = translate('bx.member.orders', { count: record.orders });
  if (!can(permissions, 'payments.read')) return <span>{label}</span>;
  const filter = encodeURIComponent(JSON.stringify({ member: record.id }));
  return <Link to={`/orders?filter=${filter}`}>{label}</Link>;
}

interface Entitlement {
  documentId: string;
  product: { kind: string; code: string };
  source: string;
  startsAt: string;
  expiresAt: string | null;
  revoked: boolean;
}

/** What the member holds; staff with `entitlements.write` grant comp access and revoke. */
function Entitlements() {
  const record = useRecordContext();
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const { permissions } = usePermissions();
  const [granting, setGranting] = useState(false);
  const writable = can(permissions, 'entitlements.write');
  if (!record) return null;
  const revoke = async (e: Entitlement) => {
    try {
      await api(`/admin/entitlements/${encodeURIComponent(e.documentId)}`, { method: 'DELETE' });
      notify('bx.member.revoked', { type: 'success' });
      refresh();
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    }
  };
  return (
    <Card variant="outlined" sx={{ m: 2 }}>
      <CardHeader
        title={translate('bx.member.entitlements')}
        action={writable ? <MuiButton onClick={() => setGranting(true)}>{translate('bx.member.grant')}</MuiButton> : null}
      />
      <CardContent>
        <Table size="small">
          <TableHead>
            <TableRow>
              <TableCell>{translate('bx.member.product')}</TableCell>
              <TableCell>{translate('bx.member.source')}</TableCell>
              <TableCell>{translate('bx.member.starts')}</TableCell>
              <TableCell>{translate('bx.member.expires')}</TableCell>
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {((record.entitlements ?? []) as Entitlement[]).map((e) => (
              <TableRow key={e.documentId} sx={{ opacity: e.revoked ? 0.5 : 1 }}>
                <TableCell>{`${e.product.kind}/${e.product.code}`}</TableCell>
                <TableCell>{translate(`bx.member.sources.${e.source}`, { _: e.source })}</TableCell>
                <TableCell>{new Date(e.startsAt).toLocaleString()}</TableCell>
                <TableCell>{e.expiresAt ? new Date(e.expiresAt).toLocaleString() : translate('bx.member.forever')}</TableCell>
                <TableCell>
                  {e.revoked ? (
                    translate('bx.member.isRevoked')
                  ) : writable ? (
                    <MuiButton size="small" color="error" onClick={() => revoke(e)}>
                      {translate('bx.member.revoke')}
                    </MuiButton>
                  ) : null}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </CardContent>
      {granting ? <GrantDialog member={String(record.id)} onClose={() => setGranting(false)} /> : null}
    </Card>
  );
}

/** Comp access: a product from the catalogue, until a date or for good. */
function GrantDialog({ member, onClose }: { member: string; onClose: () => void }) {
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const [products, setProducts] = useState<{ kind: string; code: string; name: string }[]>([]);
  const [product, setProduct] = useState('');
  const [until, setUntil] = useState('');
  useEffect(() => {
    api<{ data: { kind: string; code: string; name: string }[] }>('/admin/products').then(
      (a) => setProducts(a.body.data),
      // Staff without `payments.read` name the product by hand.
      () => setProducts([]),
    );
  }, []);
  const grant = async () => {
    const [kind, code] = product.split('/');
    try {
      await api(`/admin/members/${encodeURIComponent(member)}/entitlements`, {
        method: 'POST',
        json: { product: { kind, code }, expiresAt: until ? new Date(until).toISOString() : null },
      });
      notify('bx.member.granted', { type: 'success' });
      onClose();
      refresh();
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    }
  };
  return (
    <Dialog open onClose={onClose}>
      <DialogTitle>{translate('bx.member.grant')}</DialogTitle>
      <DialogContent sx={{ display: 'grid', gap: 2, pt: 1, minWidth: 360 }}>
        {products.length ? (
          <MuiTextField
            select
            label={translate('bx.member.product')}
            value={product}
            onChange={(e) => setProduct(e.target.value)}
            sx={{ mt: 1 }}
            slotProps={{ htmlInput: { 'data-testid': 'grant-product' } }}
          >
            {products.map((p) => (
              <MenuItem key={`${p.kind}/${p.code}`} value={`${p.kind}/${p.code}`}>
                {p.name} ({p.kind}/{p.code})
              </MenuItem>
            ))}
          </MuiTextField>
        ) : (
          <MuiTextField
            label={translate('bx.member.productCode')}
            placeholder="plan/pro"
            value={product}
            onChange={(e) => setProduct(e.target.value)}
            sx={{ mt: 1 }}
          />
        )}
        <MuiTextField
          type="datetime-local"
          label={translate('bx.member.until')}
          value={until}
          onChange={(e) => setUntil(e.target.value)}
          slotProps={{ inputLabel: { shrink: true } }}
        />
      </DialogContent>
      <DialogActions>
        <MuiButton onClick={onClose}>{translate('ra.action.cancel')}</MuiButton>
        <MuiButton variant="contained" disabled={!product.includes('/')} onClick={grant}>
          {translate('bx.member.grant')}
        </MuiButton>
      </DialogActions>
    </Dialog>
  );
}

interface Session {
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string;
}

/** The member's live sessions; `members.write` signs them out everywhere. */
function Sessions() {
  const record = useRecordContext();
  const translate = useTranslate();
  const notify = useNotify();
  const { permissions } = usePermissions();
  const [sessions, setSessions] = useState<Session[]>([]);
  const [confirming, setConfirming] = useState(false);
  const load = useCallback(() => {
    if (!record) return;
    api<{ data: Session[] }>(`/admin/members/${encodeURIComponent(String(record.id))}/sessions`).then(
      (a) => setSessions(a.body.data),
      () => setSessions([]),
    );
  }, [record]);
  useEffect(load, [load]);
  if (!record) return null;
  const revoke = async () => {
    setConfirming(false);
    try {
      await api(`/admin/members/${encodeURIComponent(String(record.id))}/sessions`, { method: 'DELETE' });
      notify('bx.member.signedOut', { type: 'success' });
      load();
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    }
  };
  return (
    <Card variant="outlined" sx={{ m: 2 }}>
      <CardHeader
        title={translate('bx.member.sessions', { count: sessions.length })}
        action={
          can(permissions, 'members.write') && sessions.length ? (
            <MuiButton color="error" onClick={() => setConfirming(true)}>
              {translate('bx.member.signOut')}
            </MuiButton>
          ) : null
        }
      />
      <CardContent>
        <Table size="small">
          <TableHead>
            <TableRow>
              <TableCell>{translate('bx.member.created')}</TableCell>
              <TableCell>{translate('bx.member.lastUsed')}</TableCell>
              <TableCell>{translate('bx.member.expires')}</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {sessions.map((s, i) => (
              <TableRow key={i}>
                <TableCell>{new Date(s.createdAt).toLocaleString()}</TableCell>
                <TableCell>{s.lastUsedAt ? new Date(s.lastUsedAt).toLocaleString() : '—'}</TableCell>
                <TableCell>{new Date(s.expiresAt).toLocaleString()}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </CardContent>
      <Dialog open={confirming} onClose={() => setConfirming(false)}>
        <DialogContent>{translate('bx.member.signOutConfirm')}</DialogContent>
        <DialogActions>
          <MuiButton onClick={() => setConfirming(false)}>{translate('ra.action.cancel')}</MuiButton>
          <MuiButton color="error" variant="contained" onClick={revoke}>
            {translate('ra.action.confirm')}
          </MuiButton>
        </DialogActions>
      </Dialog>
    </Card>
  );
}
