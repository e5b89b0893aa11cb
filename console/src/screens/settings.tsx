import {
  Alert,
  Box,
  Button as MuiButton,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from '@mui/material';
import { useEffect, useState } from 'react';
import {
  ArrayField,
  BooleanField,
  BooleanInput,
  ChipField,
  Create,
  Datagrid,
  DateField,
  DeleteButton,
  Edit,
  FunctionField,
  List,
  NumberInput,
  PasswordInput,
  SelectArrayInput,
  SelectInput,
  SimpleForm,
  SingleFieldList,
  TextField,
  TextInput,
  required,
  useCreate,
  useNotify,
  useRecordContext,
  useRedirect,
  useTranslate,
} from 'react-admin';
import { api } from '../api';
import { Label, choices } from './common';

const ROLES = ['admin', 'editor', 'author', 'finance'];
/** What a staff member or a custom token may be granted (identity::access::Permission). */
const GRANTABLE = [
  'content.read',
  'content.write-own',
  'content.write',
  'content.publish',
  'members.read',
  'entitlements.write',
  'audit.read',
  'payments.read',
  'payments.write',
  'marketing.read',
  'marketing.write',
  'mail.write',
  'mail.send',
];
const scopeChoices = GRANTABLE.map((id) => ({ id, name: id }));
const roleChoices = choices('bx.role', ROLES);


export const users = {
  list: () => (
    <List sort={{ field: 'createdAt', order: 'ASC' }}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="email" />
        <TextField source="displayName" />
        <FunctionField source="role" render={(r: any) => <Label prefix="bx.role" value={r.role} />} />
        <TextField source="grants" />
        <BooleanField source="disabled" />
        <DateField source="createdAt" />
      </Datagrid>
    </List>
  ),
  create: () => (
    <Create redirect="list">
      <SimpleForm>
        <TextInput source="email" type="email" validate={required()} />
        <TextInput source="displayName" />
        <PasswordInput source="password" validate={required()} />
        <SelectInput source="role" choices={roleChoices} validate={required()} />
      </SimpleForm>
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic">
      <SimpleForm>
        <TextField source="email" />
        <TextInput source="displayName" />
        <SelectInput source="role" choices={roleChoices} />
        <SelectArrayInput source="grants" choices={scopeChoices} />
        <BooleanInput source="disabled" />
      </SimpleForm>
    </Edit>
  ),
};

/** Shows a secret the API returns once (a token's access key, a webhook's secret). */
function ShownOnce({ secret, onClose }: { secret: string | null; onClose: () => void }) {
  const translate = useTranslate();
  return (
    <Dialog open={secret !== null} onClose={onClose}>
      <DialogTitle>{translate('bx.token.title')}</DialogTitle>
      <DialogContent>
        <Alert severity="warning" sx={{ mb: 2 }}>
          {translate('bx.token.once')}
        </Alert>
        <Box component="code" data-testid="secret" sx={{ display: 'block', p: 1, bgcolor: 'grey.100', wordBreak: 'break-all' }}>
          {secret}
        </Box>
      </DialogContent>
      <DialogActions>
        <MuiButton onClick={() => secret && navigator.clipboard?.writeText(secret)}>{translate('bx.action.copy')}</MuiButton>
        <MuiButton variant="contained" onClick={onClose}>
          {translate('ra.action.close')}
        </MuiButton>
      </DialogActions>
    </Dialog>
  );
}

/** A create form whose answer carries a secret to show once, then the list. */
function CreateWithSecret({ resource, field, children }: { resource: string; field: string; children: React.ReactNode }) {
  const [create] = useCreate();
  const notify = useNotify();
  const redirect = useRedirect();
  const [secret, setSecret] = useState<string | null>(null);
  const save = (data: Record<string, unknown>) =>
    create(
      resource,
      { data },
      {
        onSuccess: (record: any) => setSecret(record[field]),
        onError: (e: any) => notify(e.message, { type: 'error' }),
      },
    );
  return (
    <Create>
      <SimpleForm onSubmit={save}>{children}</SimpleForm>
      <ShownOnce
        secret={secret}
        onClose={() => {
          setSecret(null);
          redirect('list', resource);
        }}
      />
    </Create>
  );
}

const DAY_MS = 24 * 3600 * 1000;

export const tokens = {
  list: () => (
    <List>
      <Datagrid bulkActionButtons={false}>
        <TextField source="name" />
        <TextField source="type" />
        <TextField source="scopes" />
        <DateField source="expiresAt" showTime emptyText="—" />
        <DateField source="lastUsedAt" showTime emptyText="—" />
        <DateField source="createdAt" />
        <DeleteButton mutationMode="pessimistic" />
      </Datagrid>
    </List>
  ),
  create: () => (
    <CreateWithSecret resource="tokens" field="accessKey">
      <TextInput source="name" validate={required()} />
      <TextInput source="description" fullWidth />
      <SelectInput
        source="type"
        validate={required()}
        choices={['read-only', 'full-access', 'custom'].map((id) => ({ id, name: `bx.token.types.${id}` }))}
      />
      <SelectArrayInput source="scopes" choices={scopeChoices} />
      <NumberInput
        source="lifespan"
        label="bx.token.days"
        format={(ms?: number | null) => (ms ? ms / DAY_MS : null)}
        parse={(days?: number | null) => (days ? days * DAY_MS : null)}
      />
    </CreateWithSecret>
  ),
};

const EVENTS = ['entry.create', 'entry.update', 'entry.delete', 'entry.publish', 'entry.unpublish'];

export const webhooks = {
  list: () => (
    <List>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        <TextField source="name" />
        <TextField source="url" />
        <ArrayField source="events" sortable={false}>
          <SingleFieldList linkType={false}>
            <FunctionField render={(e: any) => <ChipField record={{ name: e }} source="name" size="small" />} />
          </SingleFieldList>
        </ArrayField>
        <BooleanField source="enabled" />
      </Datagrid>
    </List>
  ),
  create: () => (
    <CreateWithSecret resource="webhooks" field="secret">
      <TextInput source="name" validate={required()} />
      <TextInput source="url" type="url" validate={required()} fullWidth />
      <SelectArrayInput source="events" choices={EVENTS.map((id) => ({ id, name: id }))} validate={required()} />
    </CreateWithSecret>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" aside={<Deliveries />}>
      <SimpleForm>
        <TextInput source="name" />
        <TextInput source="url" type="url" fullWidth />
        <SelectArrayInput source="events" choices={EVENTS.map((id) => ({ id, name: id }))} />
        <BooleanInput source="enabled" />
      </SimpleForm>
    </Edit>
  ),
};

interface Delivery {
  id: number;
  event: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  createdAt: string;
}

/** A webhook's delivery log (`GET /admin/webhooks/{id}/deliveries`), beside its form. */
function Deliveries() {
  const translate = useTranslate();
  const record = useRecordContext();
  const [rows, setRows] = useState<Delivery[]>([]);
  useEffect(() => {
    if (!record) return;
    api<{ data: Delivery[] }>(`/admin/webhooks/${encodeURIComponent(String(record.id))}/deliveries`).then(
      (a) => setRows(a.body.data),
      () => setRows([]),
    );
  }, [record]);
  return (
    <Box sx={{ ml: 2, minWidth: 420 }}>
      <Typography variant="h6">{translate('bx.webhook.deliveries')}</Typography>
      <Table size="small">
        <TableHead>
          <TableRow>
            <TableCell>{translate('bx.webhook.event')}</TableCell>
            <TableCell>{translate('bx.webhook.status')}</TableCell>
            <TableCell>{translate('bx.webhook.attempts')}</TableCell>
            <TableCell>HTTP</TableCell>
            <TableCell>{translate('bx.webhook.at')}</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.map((d) => (
            <TableRow key={d.id}>
              <TableCell>{d.event}</TableCell>
              <TableCell>{d.status}</TableCell>
              <TableCell>{d.attempts}</TableCell>
              <TableCell>{d.lastStatusCode ?? '—'}</TableCell>
              <TableCell>{new Date(d.createdAt).toLocaleString()}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Box>
  );
}

export const audit = {
  list: () => (
    <List sort={{ field: 'createdAt', order: 'DESC' }} empty={false}>
      <Datagrid bulkActionButtons={false}>
        <DateField source="createdAt" showTime />
        <TextField source="actor" />
        <TextField source="action" />
        <TextField source="subject" />
        <FunctionField source="details" sortable={false} render={(r: any) => <code>{JSON.stringify(r.details)}</code>} />
      </Datagrid>
    </List>
  ),
};
