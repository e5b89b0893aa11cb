import { Typography } from '@mui/material';
import { Login, LoginForm, useTranslate } from 'react-admin';

export function LoginPage() {
  const translate = useTranslate();
  return (
    <Login>
      <Typography variant="h6" align="center" sx={{ mt: 1 }}>
        {translate('bx.brand')}
      </Typography>
      <LoginForm />
    </Login>
  );
}
