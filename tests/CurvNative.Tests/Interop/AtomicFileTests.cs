using CurvNative.Interop;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Interop;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void FailureMidWrite_LeavesDestinationUntouchedAndNoTemp()
    {
        string path = _dir.File("weights.npy");
        Npy.Write(path, Tensor<double>.Full(3.0, 4));
        byte[] before = File.ReadAllBytes(path);

        var ex = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[10_000]);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("boom", ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["weights.npy"], _dir.Entries());
    }

    [Fact]
    public void FailureMidWrite_OfANewFile_LeavesNoFileAtAll()
    {
        string path = _dir.File("new.safetensors");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100]);
            throw new IOException("disk full");
        }));
        Assert.Empty(_dir.Entries());
    }

    [Fact]
    public void MissingDirectory_GivesAClearError()
    {
        string path = Path.Combine(_dir.Path, "a", "b", "x.npy");
        var ex = Assert.Throws<DirectoryNotFoundException>(() => Npy.Write(path, Tensor<float>.Zeros(2)));
        Assert.Contains(path, ex.Message);
        Assert.Contains(Path.Combine(_dir.Path, "a", "b"), ex.Message);
        Assert.Throws<DirectoryNotFoundException>(() => Npy.WriteInt64(path, new Int64Tensor([1], 1)));
        Assert.Empty(_dir.Entries());
    }

    [Fact]
    public void PendingTemporaryFilesAreListedAndDeletedOnRequest()
    {
        // What the CLI's SIGINT/SIGTERM handlers do while a write is in progress.
        string path = _dir.File("result.npy");
        File.WriteAllText(path, "previous");
        string? seen = null;
        Assert.ThrowsAny<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[1000]);
            seen = Assert.Single(AtomicFile.PendingTemporaryFiles, t => Path.GetDirectoryName(t) == _dir.Path);
            Assert.True(File.Exists(seen));
            AtomicFile.DeletePendingTemporaryFiles();
            Assert.False(File.Exists(seen));
        }));
        Assert.NotNull(seen);
        Assert.DoesNotContain(seen, AtomicFile.PendingTemporaryFiles);
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal(["result.npy"], _dir.Entries());
    }

    [Fact]
    public void ADirectoryOrSocketAtTheDestinationIsRefusedNotReplaced()
    {
        string path = _dir.File("s.sock");
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        var ex = Assert.Throws<IOException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Contains("socket", ex.Message);
        Assert.Equal(FileKind.Socket, FileStatus.Get(path)!.Kind);
        Assert.Equal(["s.sock"], _dir.Entries());
    }
}
