import { html } from 'lit';
import { XopcElement } from './element.js';

/** The sign-in form: asks for the gateway token once; says why when one was refused. */
export class XopcSignIn extends XopcElement {
  static override properties = { reason: {} };
  reason = '';

  private submit(event: SubmitEvent): void {
    event.preventDefault();
    const input = this.querySelector<HTMLInputElement>('#token');
    const token = input?.value.trim() ?? '';
    if (!token) return;
    if (input) input.value = '';
    this.dispatchEvent(new CustomEvent('xopc-sign-in', { detail: token, bubbles: true }));
  }

  override render() {
    return html`
      <form class="card sign-in" @submit=${this.submit}>
        <h1>xopc gateway</h1>
        ${this.reason ? html`<p class="error" role="alert" id="sign-in-reason">${this.reason}</p>` : ''}
        <label for="token">Gateway token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required />
        <button type="submit">Sign in</button>
        <p class="hint">On the gateway's machine, <code>xopc gateway dashboard</code> opens this page signed in;
          <code>xopc gateway token</code> prints the token.</p>
      </form>
    `;
  }
}
customElements.define('xopc-sign-in', XopcSignIn);
