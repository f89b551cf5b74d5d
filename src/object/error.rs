//! The error type of the object parser.

use crate::btf::BtfError;

/// Everything that can go wrong while parsing an object or editing it before load.
///
/// Each variant names the section, symbol, map, program or variable at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ELF file, or the ELF header or section table is malformed.
    #[error("malformed ELF: {0}")]
    Elf(String),
    /// A 32-bit ELF file (BPF objects are ELF64).
    #[error("ELF class 32 object: BPF objects are 64-bit ELF")]
    Elf32,
    /// `e_machine` is neither EM_BPF (247) nor EM_NONE.
    #[error("e_machine {0} is not EM_BPF (247)")]
    WrongMachine(u16),
    /// `e_type` is not ET_REL.
    #[error("ELF type {0} is not a relocatable object (ET_REL)")]
    NotRelocatable(u16),
    /// The object has no symbol table.
    #[error("the object has no symbol table")]
    NoSymbolTable,
    /// A section is malformed (size, offset, contents).
    #[error("section {section}: {problem}")]
    Section {
        /// The section name.
        section: String,
        /// What is wrong.
        problem: String,
    },
    /// A symbol is malformed or inconsistent with its section.
    #[error("section {section}: symbol {symbol}: {problem}")]
    Symbol {
        /// The section the symbol belongs to.
        section: String,
        /// The symbol name.
        symbol: String,
        /// What is wrong.
        problem: String,
    },
    /// `.BTF` or `.BTF.ext` failed to parse.
    #[error("section {section}: {source}")]
    Btf {
        /// `.BTF` or `.BTF.ext`.
        section: &'static str,
        /// The BTF error.
        #[source]
        source: BtfError,
    },
    /// A map definition is malformed.
    #[error("map {map}: {problem}")]
    Map {
        /// The map name.
        map: String,
        /// What is wrong.
        problem: String,
    },
    /// A BTF-defined map has a field libbpf does not know.
    #[error("map {map}: unknown field '{field}'")]
    UnknownMapField {
        /// The map name.
        map: String,
        /// The field name.
        field: String,
    },
    /// A BTF-defined map gives two different sizes (e.g. `key_size` and `key`).
    #[error("map {map}: conflicting {what} size {first} != {second}")]
    ConflictingMapSize {
        /// The map name.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// The size given first.
        first: u32,
        /// The size given second.
        second: u32,
    },
    /// A map definition in `.maps` has an initializer other than `values` relocations.
    #[error("map {map}: initialized with non-zero bytes at offset {offset} of its definition (only `values` may be initialized)")]
    MapInitialized {
        /// The map name.
        map: String,
        /// The offset within the definition.
        offset: u64,
    },
    /// A legacy `maps` record has non-zero bytes this parser does not understand.
    #[error("map {map}: legacy definition of {size} bytes has unrecognized non-zero fields after byte {known}")]
    LegacyMapExtra {
        /// The map name.
        map: String,
        /// Record size.
        size: usize,
        /// Bytes understood.
        known: usize,
    },
    /// A program is malformed.
    #[error("program {program}: {problem}")]
    Program {
        /// The program name.
        program: String,
        /// What is wrong.
        problem: String,
    },
    /// A relocation is malformed or points to something it cannot.
    #[error("section {section}: relocation at offset {offset:#x} against '{symbol}': {problem}")]
    Reloc {
        /// The section the relocation applies to.
        section: String,
        /// Byte offset within that section.
        offset: u64,
        /// The symbol name.
        symbol: String,
        /// What is wrong.
        problem: String,
    },
    /// An extern is malformed or unsupported.
    #[error("extern {name}: {problem}")]
    Extern {
        /// The extern's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// No program has this name.
    #[error("no program named '{0}'")]
    NoSuchProgram(String),
    /// No map has this name.
    #[error("no map named '{0}'")]
    NoSuchMap(String),
    /// No data section has this name.
    #[error("no data section '{0}'")]
    NoSuchSection(String),
    /// A data section has no variable of this name.
    #[error("section {section}: no variable named '{name}'")]
    NoSuchVariable {
        /// The data section name.
        section: String,
        /// The variable name.
        name: String,
    },
    /// No data section has a variable of this name.
    #[error("no global variable named '{0}' in any data section")]
    NoSuchGlobal(String),
    /// Text given for a variable is not a value of its type.
    #[error("section {section}: variable {name}: {source}")]
    VariableValue {
        /// The data section name.
        section: String,
        /// The variable name.
        name: String,
        /// Why the text does not fit the type.
        #[source]
        source: crate::btf::ValueError,
    },
    /// A value given for a variable does not have the variable's size.
    #[error("section {section}: variable {name} is {expected} bytes, got {got}")]
    VariableSize {
        /// The data section name.
        section: String,
        /// The variable name.
        name: String,
        /// The variable's size.
        expected: u32,
        /// The value's size.
        got: usize,
    },
}

impl ObjectError {
    pub(crate) fn section(section: &str, problem: impl Into<String>) -> Self {
        ObjectError::Section {
            section: section.to_string(),
            problem: problem.into(),
        }
    }

    pub(crate) fn symbol(section: &str, symbol: &str, problem: impl Into<String>) -> Self {
        ObjectError::Symbol {
            section: section.to_string(),
            symbol: symbol.to_string(),
            problem: problem.into(),
        }
    }

    pub(crate) fn map(map: &str, problem: impl Into<String>) -> Self {
        ObjectError::Map {
            map: map.to_string(),
            problem: problem.into(),
        }
    }

    pub(crate) fn ext(name: &str, problem: impl Into<String>) -> Self {
        ObjectError::Extern {
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}

impl From<object::Error> for ObjectError {
    fn from(e: object::Error) -> Self {
        ObjectError::Elf(e.to_string())
    }
}
