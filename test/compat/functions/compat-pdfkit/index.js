// A PDF with pdfkit (it reads its font metrics, .afm files, next to its own modules).
const PDFDocument = require('pdfkit');

exports.handler = (event) =>
  new Promise((resolve, reject) => {
    const doc = new PDFDocument();
    const chunks = [];
    doc.on('data', (c) => chunks.push(c));
    doc.on('error', reject);
    doc.on('end', () => {
      const pdf = Buffer.concat(chunks);
      resolve({ header: pdf.subarray(0, 5).toString('latin1'), bytes: pdf.length > 500 });
    });
    doc.font('Helvetica').fontSize(14).text(event.text ?? 'hello from thaw');
    doc.end();
  });
