// Vite's module kinds the UI imports: plain CSS files become <link> tags in the built page.
declare module '*.css';
