using System.Runtime.InteropServices;
using CurvNative.Interop;

// On Ctrl-C or SIGTERM the process still ends (the handlers do not cancel), but first the temporary files of writes
// in progress are deleted, so an interrupted run leaves neither a partial output nor a hidden .<name>.<id>.tmp file.
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => AtomicFile.DeletePendingTemporaryFiles());
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => AtomicFile.DeletePendingTemporaryFiles());
return CurvNative.Cli.App.Run(args, Console.Out, Console.Error);
