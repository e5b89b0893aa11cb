import { useTranslate } from 'react-admin';

/** Select choices whose labels are translation keys: `prefix.value`. */
export const choices = (prefix: string, values: readonly string[]) =>
  values.map((id) => ({ id, name: `${prefix}.${id}` }));

/** A stored value shown in the staff member's language, or as it is when unknown. */
export function Label({ prefix, value }: { prefix: string; value: string }) {
  const translate = useTranslate();
  return <>{translate(`${prefix}.${value}`, { _: value })}</>;
}
