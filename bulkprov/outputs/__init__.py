"""What bulkprov writes for people: result workbooks, undo files, the input template."""
