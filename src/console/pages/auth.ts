import { Router, type Request, type Response } from 'express';
import { decodeJwt } from 'jose';
import QRCode from 'qrcode';
import { RECOVERY_CODE } from '../../auth/enrolment.js';
import { OAuthError } from '../../errors/problems.js';
import { confirm as confirmInput, enrolmentSteps, start as startInput } from '../../modules/oauth/enrolment.js';
import { passwordGrant } from '../../modules/oauth/password-grant.js';
import { redirectSaved, requireUser, type ConsoleContext } from '../context.js';
import { fieldErrors, str, type FieldErrors } from '../render.js';
import { endSession, startSession } from '../session.js';

const notices = (maxHours: number): Record<string, string> => ({
  idle: 'You were signed out because there was no activity for 15 minutes. Sign in again to continue.',
  expired: `You were signed out because you signed in more than ${maxHours} hours ago. Sign in again to continue.`,
  'signed-out': 'You have signed out.',
  enrolled: 'Your account is set up. Sign in with your new password and the code from your authenticator app.',
});

/** Sign in (password, then TOTP where enrolled), first-time enrolment, sign out. */
export function authPages({ deps, render }: ConsoleContext): Router {
  const router = Router();
  const enrolment = enrolmentSteps(deps);
  const NOTICES = notices(deps.config.SESSION_MAX_HOURS);

  router.get('/sign-in', (req, res) => {
    if (req.user) return res.redirect(303, '/');
    render(req, res, 'sign-in', { title: 'Sign in', notice: NOTICES[String(req.query.ended ?? '')] });
  });

  /** The password grant itself (same throttle, same checks, same log entries as POST /oauth/token). */
  router.post('/sign-in', async (req, res) => {
    const username = str(req.body, 'username');
    const password = typeof req.body?.password === 'string' ? (req.body.password as string) : '';
    const otp = str(req.body, 'otp').replace(/\s/g, '');
    const errors: FieldErrors = {};
    if (!username) errors.username = 'Enter your username';
    if (!password) errors.password = 'Enter your password';
    if (otp && !/^[0-9]{6}$/.test(otp) && !RECOVERY_CODE.test(otp)) errors.otp = 'Enter the six digits from your authenticator app, or a recovery code';
    const again = (status: number) => render(req, res, 'sign-in', { title: 'Sign in', errors, values: { username } }, status);
    if (Object.keys(errors).length) return again(400);
    req.body = { grant_type: 'password', username, password, ...(otp ? { otp } : {}) };
    try {
      const granted = await passwordGrant(deps, req);
      await startSession(req, granted.access_token, (decodeJwt(granted.access_token).amr as string[] | undefined) ?? ['pwd']);
      res.redirect(303, '/');
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      if (err.status === 429) errors.form = `Too many failed attempts. Try again in ${Math.ceil((err.retryAfter ?? 60) / 60)} minutes.`;
      else if (err.error === 'temporarily_unavailable') errors.form = 'Signing in is not possible right now. Try again in a moment.';
      else errors.form = 'The username, password or code is not right. If you use an authenticator app, include its current code.';
      again(err.status === 429 ? 429 : err.error === 'temporarily_unavailable' ? 503 : 400);
    }
  });

  router.post('/sign-out', async (req, res) => {
    await endSession(deps, req);
    res.redirect(303, '/sign-in?ended=signed-out');
  });

  /** The idle warning's "Stay signed in": the request itself renews the session. */
  router.post('/session/extend', requireUser, (req, res) => {
    if (req.get('accept')?.includes('application/json')) return res.status(204).end();
    res.redirect(303, '/');
  });

  router.get('/enrol', (req, res) => render(req, res, 'enrol', { title: 'Set up your account' }));

  router.post('/enrol', async (req, res) => {
    const values = {
      username: str(req.body, 'username'),
      enrolment_code: str(req.body, 'enrolment_code').toLowerCase(),
      approval_code: str(req.body, 'approval_code').toLowerCase(),
    };
    const input = {
      username: values.username,
      enrolment_code: values.enrolment_code,
      ...(values.approval_code ? { approval_code: values.approval_code } : {}),
      password: typeof req.body?.password === 'string' ? (req.body.password as string) : '',
    };
    const parsed = startInput.safeParse(input);
    const again = (errors: FieldErrors, status: number) => render(req, res, 'enrol', { title: 'Set up your account', errors, values }, status);
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      if (errors.enrolment_code) errors.enrolment_code = 'Enter the enrolment code exactly as you were given it';
      if (errors.approval_code) errors.approval_code = 'Enter the approval code exactly as you were given it, or leave it empty';
      if (errors.password) errors.password = 'Enter a new password of at least 12 characters, or your current password after a reset';
      return again(errors, 400);
    }
    try {
      const started = await enrolment.start(req, parsed.data);
      req.session.pending = {
        enrolUsername: values.username,
        enrolCode: values.enrolment_code,
        secret: started.totp_secret,
        uri: started.otpauth_uri,
        recovery: started.recovery_codes,
      };
      await redirectSaved(req, res, '/enrol/confirm');
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      // The codes were right (only then is a new password's length judged): say so at the field.
      if (err.error === 'invalid_request') return again({ password: 'Choose a new password of at least 12 characters' }, 400);
      again(
        {
          form:
            err.status === 429
              ? 'Too many failed attempts. Try again later.'
              : err.error === 'temporarily_unavailable'
                ? 'Set-up is not possible right now. Try again in a moment.'
                : 'The username, a code or the password is not right, or the code has expired. Into a partner agency you need the approval code as well; after a reset, your current password.',
        },
        err.status === 429 ? 429 : err.error === 'temporarily_unavailable' ? 503 : 400,
      );
    }
  });

  const confirmPage = async (req: Request, res: Response, errors: FieldErrors = {}, status = 200) => {
    const p = req.session.pending as { secret: string; uri: string; recovery: string[] } | undefined;
    if (!p?.secret) return res.redirect(303, '/enrol');
    const qr = await QRCode.toDataURL(p.uri, { errorCorrectionLevel: 'M', margin: 2, width: 240 });
    render(req, res, 'enrol-confirm', { title: 'Connect your authenticator app', qr, secret: p.secret, recovery: p.recovery, errors }, status);
  };
  router.get('/enrol/confirm', (req, res) => confirmPage(req, res));

  router.post('/enrol/confirm', async (req, res) => {
    const p = req.session.pending as { enrolUsername: string; enrolCode: string } | undefined;
    if (!p?.enrolUsername) return res.redirect(303, '/enrol');
    const parsed = confirmInput.safeParse({ username: p.enrolUsername, enrolment_code: p.enrolCode, otp: str(req.body, 'otp').replace(/\s/g, '') });
    if (!parsed.success) return confirmPage(req, res, { otp: 'Enter the six digits your authenticator app shows' }, 400);
    try {
      await enrolment.confirm(req, parsed.data);
      delete req.session.pending;
      res.redirect(303, '/sign-in?ended=enrolled');
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      await confirmPage(req, res, { otp: 'That code is not right. Type the code your app shows now.' }, 400);
    }
  });

  return router;
}
