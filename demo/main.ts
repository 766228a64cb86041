/** The demo page's entry: one lit element per file, each importing what it uses. */
import './train-app.ts';
