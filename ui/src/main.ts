/** The page's entry point: defines the components; index.html holds <xopc-app>. */
import './app-shell.js';
