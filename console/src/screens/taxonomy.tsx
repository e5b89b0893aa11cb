import {
  Create,
  Datagrid,
  Edit,
  List,
  SearchInput,
  SimpleForm,
  TextField,
  TextInput,
  required,
} from 'react-admin';

/** Authors, categories and tags: read through the public API, written through /admin. */
function TermList({ fields }: { fields: string[] }) {
  return (
    <List filters={[<SearchInput key="q" source="q" alwaysOn />]} sort={{ field: 'name', order: 'ASC' }}>
      <Datagrid rowClick="edit" bulkActionButtons={false}>
        {fields.map((f) => (
          <TextField key={f} source={f} />
        ))}
      </Datagrid>
    </List>
  );
}

function TermForm({ author }: { author?: boolean }) {
  return (
    <SimpleForm>
      <TextInput source="name" validate={required()} />
      <TextInput source="slug" helperText={false} />
      {author ? <TextInput source="email" type="email" /> : null}
      <TextInput source={author ? 'bio' : 'description'} multiline fullWidth />
    </SimpleForm>
  );
}

const termFields = ['name', 'slug', 'description', 'bio', 'email'];
const onlyTermFields = (data: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(data).filter(([k]) => termFields.includes(k)));

export const authors = {
  list: () => <TermList fields={['name', 'slug', 'email']} />,
  create: () => (
    <Create redirect="list" transform={onlyTermFields}>
      <TermForm author />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={onlyTermFields}>
      <TermForm author />
    </Edit>
  ),
};

export const terms = {
  list: () => <TermList fields={['name', 'slug', 'description']} />,
  create: () => (
    <Create redirect="list" transform={onlyTermFields}>
      <TermForm />
    </Create>
  ),
  edit: () => (
    <Edit mutationMode="pessimistic" transform={onlyTermFields}>
      <TermForm />
    </Edit>
  ),
};
