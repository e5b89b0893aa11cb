import {
  Alert,
  Box,
  Button as MuiButton,
  Card,
  CardContent,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  FormControlLabel,
  Radio,
  RadioGroup,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField as MuiTextField,
  Typography,
} from '@mui/material';
import { Suspense, lazy, useEffect, useMemo, useState } from 'react';
import {
  ArrayInput,
  BooleanField,
  BooleanInput,
  Button,
  Create,
  Datagrid,
  DateField,
  DateInput,
  DateTimeInput,
  Edit,
  FunctionField,
  List,
  NumberInput,
  SelectInput,
  Show,
  SimpleForm,
  SimpleFormIterator,
  SimpleShowLayout,
  TextField,
  TextInput,
  TopToolbar,
  required,
  useListContext,
  useLocaleState,
  useNotify,
  usePermissions,
  useRecordContext,
  useRefresh,
  useTranslate,
} from 'react-admin';
import { api, query } from '../api';
import { can } from '../authProvider';
import { formatMoney, toMajor, toMinor } from '../money';
import { Label, choices } from './common';

const RevenueChart = lazy(() => import('./charts').then((m) => ({ default: m.RevenueChart })));

const STATUSES = ['pending', 'paid', 'partially_refunded', 'refunded', 'expired', 'failed', 'canceled'];
const CHANNELS = ['stripe', 'alipay', 'wechat'];

function Money({ source, currency = 'currency' }: { source: string; currency?: string }) {
  const record = useRecordContext();
  const [locale] = useLocaleState();
  if (!record) return null;
  return <>{formatMoney(record[source], record[currency], locale)}</>;
}

/** The export of what the list shows: the same filters, as CSV, through the session cookie. */
function ExportCsv() {
  const translate = useTranslate();
  const { filterValues } = useListContext();
  return (
    <MuiButton size="small" href={`/admin/exports/orders${query(filterValues)}`} download>
      {translate('ra.action.export')} CSV
    </MuiButton>
  );
}

const orderFilters = [
  <SelectInput key="status" source="status" choices={choices('bx.order.status', STATUSES)} alwaysOn />,
  <SelectInput key="channel" source="channel" choices={choices('bx.order.channel', CHANNELS)} alwaysOn />,
  <TextInput key="product" source="product" />,
  <TextInput key="member" source="member" />,
  <DateInput key="from" source="from" />,
  <DateInput key="to" source="to" />,
];

export const orders = {
  list: () => (
    <List
      filters={orderFilters}
      sort={{ field: 'createdAt', order: 'DESC' }}
      actions={
        <TopToolbar>
          <ExportCsv />
        </TopToolbar>
      }
      empty={false}
    >
      <Datagrid rowClick="show" bulkActionButtons={false}>
        <DateField source="createdAt" showTime sortable={false} />
        <TextField source="productName" sortable={false} />
        <FunctionField source="amount" sortable={false} render={() => <Money source="amount" />} />
        <FunctionField source="channel" sortable={false} render={(r: any) => <Label prefix="bx.order.channel" value={r.channel} />} />
        <FunctionField source="status" sortable={false} render={(r: any) => <Label prefix="bx.order.status" value={r.status} />} />
        <TextField source="member" sortable={false} />
      </Datagrid>
    </List>
  ),
  show: () => (
    <Show actions={<OrderActions />}>
      <SimpleShowLayout>
        <TextField source="documentId" />
        <TextField source="productName" />
        <FunctionField source="amount" render={() => <Money source="amount" />} />
        <FunctionField source="refunded" render={() => <Money source="refunded" />} />
        <FunctionField source="status" render={(r: any) => <Label prefix="bx.order.status" value={r.status} />} />
        <FunctionField source="channel" render={(r: any) => <Label prefix="bx.order.channel" value={r.channel} />} />
        <TextField source="providerRef" emptyText="—" />
        <TextField source="promotionCode" emptyText="—" />
        <TextField source="member" />
        <DateField source="paidAt" showTime emptyText="—" />
        <FunctionField source="events" render={(r: any) => <Events events={r.events ?? []} />} />
      </SimpleShowLayout>
    </Show>
  ),
};


function Events({ events }: { events: { kind: string; source: string; details: unknown; createdAt: string }[] }) {
  const translate = useTranslate();
  return (
    <Table size="small">
      <TableHead>
        <TableRow>
          <TableCell>{translate('bx.order.at')}</TableCell>
          <TableCell>{translate('bx.order.event')}</TableCell>
          <TableCell>{translate('bx.order.source')}</TableCell>
          <TableCell>{translate('bx.order.details')}</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {events.map((e, i) => (
          <TableRow key={i}>
            <TableCell>{new Date(e.createdAt).toLocaleString()}</TableCell>
            <TableCell>{e.kind}</TableCell>
            <TableCell>{e.source}</TableCell>
            <TableCell>
              <code>{JSON.stringify(e.details)}</code>
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

function OrderActions() {
  const record = useRecordContext();
  const { permissions } = usePermissions();
  const [open, setOpen] = useState(false);
  const refundable = record && ['paid', 'partially_refunded'].includes(record.status) && can(permissions, 'payments.write');
  return (
    <TopToolbar>
      {refundable ? <Button label="bx.order.refund" color="error" onClick={() => setOpen(true)} /> : null}
      {record && open ? <RefundDialog order={record} onClose={() => setOpen(false)} /> : null}
    </TopToolbar>
  );
}

/**
 * Full or partial refund, confirmed in a second step. The Idempotency-Key is made
 * when the dialog opens, so a double click or a retry after a timeout asks the
 * provider once.
 */
function RefundDialog({ order, onClose }: { order: any; onClose: () => void }) {
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const [locale] = useLocaleState();
  const [kind, setKind] = useState<'full' | 'partial'>('full');
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const key = useMemo(() => crypto.randomUUID(), []);
  const remaining = order.amount - (order.refunded ?? 0);
  const minor = kind === 'full' ? remaining : toMinor(amount);
  const valid = minor !== null && minor > 0 && minor <= remaining;
  const submit = async () => {
    try {
      await api(`/admin/orders/${encodeURIComponent(order.id)}/refunds`, {
        method: 'POST',
        headers: { 'Idempotency-Key': key },
        json: { data: { amount: kind === 'full' ? null : minor, reason: reason || null } },
      });
      notify('bx.order.refunded', { type: 'success' });
      onClose();
      refresh();
    } catch (e) {
      notify((e as Error).message, { type: 'error' });
      setConfirming(false);
    }
  };
  return (
    <Dialog open onClose={onClose}>
      <DialogTitle>{translate('bx.order.refund')}</DialogTitle>
      <DialogContent>
        {confirming ? (
          <Alert severity="warning" data-testid="refund-confirm">
            {translate('bx.order.confirm', { amount: formatMoney(minor, order.currency, locale) })}
          </Alert>
        ) : (
          <>
            <RadioGroup value={kind} onChange={(e) => setKind(e.target.value as 'full' | 'partial')}>
              <FormControlLabel
                value="full"
                control={<Radio />}
                label={translate('bx.order.full', { amount: formatMoney(remaining, order.currency, locale) })}
              />
              <FormControlLabel value="partial" control={<Radio />} label={translate('bx.order.partial')} />
            </RadioGroup>
            {kind === 'partial' ? (
              <MuiTextField
                label={translate('bx.order.amount', { currency: order.currency })}
                type="number"
                value={amount}
                onChange={(e) => setAmount(e.target.value)}
                slotProps={{ htmlInput: { min: 0.01, step: 0.01, 'data-testid': 'refund-amount' } }}
                sx={{ mt: 1 }}
              />
            ) : null}
            <MuiTextField
              label={translate('bx.order.reason')}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              fullWidth
              sx={{ mt: 2 }}
              slotProps={{ htmlInput: { maxLength: 80 } }}
            />
          </>
        )}
      </DialogContent>
      <DialogActions>
        <MuiButton onClick={onClose}>{translate('ra.action.cancel')}</MuiButton>
        {confirming ? (
          <MuiButton color="error" variant="contained" onClick={submit}>
            {translate('ra.action.confirm')}
          </MuiButton>
        ) : (
          <MuiButton variant="contained" disabled={!valid} onClick={() => setConfirming(true)}>
            {translate('bx.order.next')}
          </MuiButton>
        )}
      </DialogActions>
    </Dialog>
  );
}

const CURRENCIES = [
  { id: 'CNY', name: 'CNY' },
  { id: 'USD', name: 'USD' },
];

function ProductForm({ creating }: { creating?: boolean }) {
  return (
    <SimpleForm>
      {creating ? (
        <>
          <SelectInput source="kind" choices={choices('bx.product.kind', ['plan', 'course'])} validate={required()} />
          <TextInput source="code" validate={required()} />
        </>
      ) : (
        <TextField source="code" />
      )}
      <TextInput source="name" validate={required()} />
      <TextInput source="description" multiline fullWidth />
      <NumberInput source="accessDays" />
      <BooleanInput source="active" />
      <ArrayInput source="prices">
        <SimpleFormIterator inline>
          <SelectInput source="currency" choices={CURRENCIES} validate={required()} />
          <NumberInput source="amount" format={toMajor} parse={toMinor} validate={required()} />
          <SelectInput source="billing" choices={choices('bx.product.billing', ['prepaid', 'subscription', 'one-time'])} validate={required()} />
          <SelectInput source="period" choices={choices('bx.product.period', ['month', 'year'])} />
        </SimpleFormIterator>
      </ArrayInput>
    </SimpleForm>
  );
}

/** A product's prices as the write takes them (without their ids). */
const productInput = (data: any) => {
  const { kind, code, name, description, accessDays, active, prices } = data;
  return {
    kind,
    code,
    name,
    description,
    accessDays,
    active,
    prices: prices?.map(({ currency, amount, billing, period }: any) => ({ currency, amount, billing, period: period ?? null })),
  };
};

export const products = {
  list: () => (
    <List empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <TextField source="kind" />
        <TextField source="code" />
        <FunctionField
          source="prices"
          sortable={false}
          render={(r: any) => r.prices.map((p: any) => `${formatMoney(p.amount, p.currency)} ${p.period ?? ''}`).join(' · ')}
        />
        <BooleanField source="active" />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list" transform={productInput}>
      <ProductForm creating />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={(d: any) => ({ ...productInput(d), kind: undefined, code: undefined })}>
      <ProductForm />
    </Edit>
  ),
};

const promotionInput = (data: any) => {
  const { code, percentOff, amountOff, currency, product, startsAt, endsAt, maxRedemptions, maxPerMember, active } = data;
  return { code, percentOff, amountOff, currency, product, startsAt, endsAt, maxRedemptions, maxPerMember, active };
};

export const promotions = {
  list: () => (
    <List empty={false}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="code" />
        <FunctionField
          source="percentOff"
          sortable={false}
          render={(r: any) => (r.percentOff ? `${r.percentOff}%` : formatMoney(r.amountOff, r.currency))}
        />
        <TextField source="redemptions" />
        <DateField source="startsAt" />
        <DateField source="endsAt" emptyText="—" />
        <BooleanField source="active" />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list" transform={promotionInput}>
      <SimpleForm>
        <TextInput source="code" validate={required()} />
        <NumberInput source="percentOff" min={1} max={99} />
        <NumberInput source="amountOff" format={toMajor} parse={toMinor} />
        <SelectInput source="currency" choices={CURRENCIES} />
        <DateTimeInput source="startsAt" />
        <DateTimeInput source="endsAt" />
        <NumberInput source="maxRedemptions" />
        <NumberInput source="maxPerMember" />
      </SimpleForm>
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={(d: any) => ({ ...promotionInput(d), code: undefined, percentOff: undefined, amountOff: undefined, currency: undefined })}>
      <SimpleForm>
        <TextField source="code" />
        <DateTimeInput source="startsAt" />
        <DateTimeInput source="endsAt" />
        <NumberInput source="maxRedemptions" />
        <NumberInput source="maxPerMember" />
        <BooleanInput source="active" />
      </SimpleForm>
    </Edit>
  ),
};

export interface RevenueDay {
  day: string;
  channel: string;
  currency: string;
  orders: number;
  gross: number;
  refunded: number;
  net: number;
}

/** Revenue per China-Standard-Time day and channel (`GET /admin/revenue`). */
export function RevenuePage() {
  const translate = useTranslate();
  const [locale] = useLocaleState();
  const [days, setDays] = useState<RevenueDay[] | null>(null);
  useEffect(() => {
    api<{ data: RevenueDay[] }>('/admin/revenue').then(
      (a) => setDays(a.body.data),
      () => setDays([]),
    );
  }, []);
  const totals = useMemo(() => {
    const sums = new Map<string, { gross: number; refunded: number; net: number; orders: number }>();
    for (const d of days ?? []) {
      const t = sums.get(d.currency) ?? { gross: 0, refunded: 0, net: 0, orders: 0 };
      t.gross += d.gross;
      t.refunded += d.refunded;
      t.net += d.net;
      t.orders += d.orders;
      sums.set(d.currency, t);
    }
    return [...sums.entries()];
  }, [days]);
  return (
    <Box sx={{ mt: 2 }}>
      <Typography variant="h5" gutterBottom>
        {translate('bx.revenue.title')}
      </Typography>
      <Box sx={{ display: 'flex', gap: 2, mb: 2, flexWrap: 'wrap' }}>
        {totals.map(([currency, t]) => (
          <Card key={currency} sx={{ minWidth: 220 }}>
            <CardContent>
              <Typography color="text.secondary">{translate('bx.revenue.net', { currency })}</Typography>
              <Typography variant="h5">{formatMoney(t.net, currency, locale)}</Typography>
              <Typography variant="body2" color="text.secondary">
                {translate('bx.revenue.detail', {
                  orders: t.orders,
                  gross: formatMoney(t.gross, currency, locale),
                  refunded: formatMoney(t.refunded, currency, locale),
                })}
              </Typography>
            </CardContent>
          </Card>
        ))}
      </Box>
      <Card>
        <CardContent sx={{ height: 360 }}>
          <Suspense fallback={null}>{days ? <RevenueChart days={days} /> : null}</Suspense>
        </CardContent>
      </Card>
    </Box>
  );
}
