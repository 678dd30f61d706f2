using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// LAPACK routines from OpenBLAS through their Fortran symbols (Debian's OpenBLAS has no LAPACKE).
/// Fortran is column-major; the wrappers take row-major spans and document how the two views meet:
/// a row-major n x n array read column-major is the transpose, so for symmetric input only the choice of
/// triangle matters. Fortran CHARACTER arguments get their hidden length arguments (gfortran ABI).
/// </summary>
internal static unsafe partial class Lapack
{
    private const string OpenBlas = "openblas";

    static Lapack() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(OpenBlas, EntryPoint = "dsyevd_")]
    private static partial void Dsyevd(byte* jobz, byte* uplo, int* n, double* a, int* lda, double* w,
        double* work, int* lwork, int* iwork, int* liwork, int* info, nuint jobzLen, nuint uploLen);

    [LibraryImport(OpenBlas, EntryPoint = "ssyevd_")]
    private static partial void Ssyevd(byte* jobz, byte* uplo, int* n, float* a, int* lda, float* w,
        float* work, int* lwork, int* iwork, int* liwork, int* info, nuint jobzLen, nuint uploLen);

    [LibraryImport(OpenBlas, EntryPoint = "dpotrf_")]
    private static partial void Dpotrf(byte* uplo, int* n, double* a, int* lda, int* info, nuint uploLen);

    [LibraryImport(OpenBlas, EntryPoint = "spotrf_")]
    private static partial void Spotrf(byte* uplo, int* n, float* a, int* lda, int* info, nuint uploLen);

    [LibraryImport(OpenBlas, EntryPoint = "dpotrs_")]
    private static partial void Dpotrs(byte* uplo, int* n, int* nrhs, double* a, int* lda, double* b, int* ldb,
        int* info, nuint uploLen);

    [LibraryImport(OpenBlas, EntryPoint = "spotrs_")]
    private static partial void Spotrs(byte* uplo, int* n, int* nrhs, float* a, int* lda, float* b, int* ldb,
        int* info, nuint uploLen);

    /// <summary>
    /// Symmetric eigendecomposition (xSYEVD, divide and conquer): A = V diag(w) V^T.
    /// <paramref name="a"/> is the n x n matrix, row-major; only its upper triangle (row &lt;= column) is read
    /// (Fortran's lower triangle). On return <paramref name="eigenvalues"/> holds the eigenvalues in ascending
    /// order and, when <paramref name="computeVectors"/>, row i of <paramref name="a"/> (a[i*n .. i*n+n)) is the
    /// unit eigenvector of eigenvalues[i] (that is, a holds V^T row-major); otherwise a is destroyed.
    /// Runs with OpenBLAS held at one thread (a serial section), so that the result is the same to the bit for any
    /// OpenBLAS thread count and any concurrent work.
    /// </summary>
    /// <exception cref="LapackException">The algorithm failed to converge (info &gt; 0).</exception>
    public static void SymmetricEigen<T>(int n, Span<T> a, Span<T> eigenvalues, bool computeVectors = true)
        where T : unmanaged
    {
        CheckOrder(n);
        SpanChecks.Length(a.Length, (long)n * n, nameof(a), "n*n");
        SpanChecks.Length(eigenvalues.Length, n, nameof(eigenvalues), "n");
        if (n == 0) return;
        byte jobz = computeVectors ? (byte)'V' : (byte)'N', uplo = (byte)'L';
        int nn = n, lda = n, info = 0, lwork = -1, liwork = -1, iworkQuery = 0;
        string routine = typeof(T) == typeof(double) ? "dsyevd_" : "ssyevd_";
        T workQuery = default;
        // OpenBLAS 0.3.21 threads dsymv (inside xSYTRD) at every size and sums the threads' partial products, so with
        // threads the eigenvectors change in the last bits with the thread count (measured on a 5 x 5 KFAC factor), and
        // EKFAC amplifies that through near-degenerate eigenvalues. (A second, serial OpenBLAS loaded beside the
        // threaded one was tried and broke other routines depending on which library the process loaded first.)
        fixed (T* pa = a) fixed (T* pw = eigenvalues)
        using (NativeThreads.EnterSerial())
        {
            Syevd(&jobz, &uplo, &nn, pa, &lda, pw, &workQuery, &lwork, &iworkQuery, &liwork, &info);
            ThrowOnInfo(routine + " (workspace query)", info);
            lwork = WorkspaceSize(typeof(T) == typeof(double) ? Unsafe.As<T, double>(ref workQuery) : Unsafe.As<T, float>(ref workQuery), n, computeVectors);
            liwork = Math.Max(iworkQuery, computeVectors ? 3 + 5 * n : 1);
            // Native workspace: 2n^2 elements exceed a GC region from n ~ 2000 (float), and a large-object
            // allocation per decomposition forced a full blocking collection each time.
            using (var work = new ScratchBuffer<T>((nuint)lwork))
            using (var iwork = new ScratchBuffer<int>((nuint)liwork))
                Syevd(&jobz, &uplo, &nn, pa, &lda, pw, work.Pointer, &lwork, iwork.Pointer, &liwork, &info);
            ThrowOnInfo(routine, info);
        }
    }

    /// <summary>xSYEVD for T = double or float; any other type throws.</summary>
    private static void Syevd<T>(byte* jobz, byte* uplo, int* n, T* a, int* lda, T* w, T* work, int* lwork, int* iwork, int* liwork, int* info)
        where T : unmanaged
    {
        if (typeof(T) == typeof(double)) Dsyevd(jobz, uplo, n, (double*)a, lda, (double*)w, (double*)work, lwork, iwork, liwork, info, 1, 1);
        else if (typeof(T) == typeof(float)) Ssyevd(jobz, uplo, n, (float*)a, lda, (float*)w, (float*)work, lwork, iwork, liwork, info, 1, 1);
        else throw Unsupported<T>();
    }

    /// <summary>
    /// Cholesky factorisation A = L L^T (xPOTRF) of a symmetric positive definite n x n row-major matrix.
    /// Only the lower triangle (row &gt;= column) is read, and on success it is overwritten with L; the strict
    /// upper triangle is left untouched (Fortran's 'U' factor of the transposed view). Returns LAPACK's info:
    /// 0 on success, k &gt; 0 when the leading minor of order k is not positive definite (a is then partly
    /// overwritten).
    /// </summary>
    public static int TryCholesky<T>(int n, Span<T> a) where T : unmanaged
    {
        CheckOrder(n);
        SpanChecks.Length(a.Length, (long)n * n, nameof(a), "n*n");
        if (n == 0) return 0;
        byte uplo = (byte)'U';
        int nn = n, lda = n, info = 0;
        fixed (T* pa = a)
        {
            if (typeof(T) == typeof(double)) Dpotrf(&uplo, &nn, (double*)pa, &lda, &info, 1);
            else if (typeof(T) == typeof(float)) Spotrf(&uplo, &nn, (float*)pa, &lda, &info, 1);
            else throw Unsupported<T>();
        }
        if (info < 0) ThrowOnInfo(typeof(T) == typeof(double) ? "dpotrf_" : "spotrf_", info);
        return info;
    }

    /// <summary>As <see cref="TryCholesky{T}"/> but throws when the matrix is not positive definite.</summary>
    /// <exception cref="LapackException">info != 0.</exception>
    public static void Cholesky<T>(int n, Span<T> a) where T : unmanaged
    {
        int info = TryCholesky(n, a);
        if (info != 0)
            throw new LapackException(typeof(T) == typeof(double) ? "dpotrf_" : "spotrf_", info,
                $"Cholesky factorisation failed: the leading minor of order {info} is not positive definite.");
    }

    /// <summary>
    /// Solves A X = B (xPOTRS) given the factor from <see cref="Cholesky{T}"/>: <paramref name="factor"/> is the
    /// n x n row-major array whose lower triangle holds L (the upper triangle is not read);
    /// <paramref name="b"/> is row-major n x nrhs and is overwritten with X.
    /// </summary>
    public static void CholeskySolve<T>(int n, int nrhs, ReadOnlySpan<T> factor, Span<T> b) where T : unmanaged
    {
        CheckOrder(n);
        if (nrhs < 0) throw new ArgumentException($"nrhs must be >= 0 but got {nrhs}.", nameof(nrhs));
        SpanChecks.Length(factor.Length, (long)n * n, nameof(factor), "n*n");
        SpanChecks.Length(b.Length, (long)n * nrhs, nameof(b), "n*nrhs");
        if (b.Overlaps(factor)) throw new ArgumentException("b must not overlap factor.", nameof(b));
        if (n == 0 || nrhs == 0) return;
        // Fortran wants B column-major (n x nrhs): the transpose of the row-major array unless nrhs == 1.
        T[]? colMajor = nrhs == 1 ? null : new T[(long)n * nrhs];
        if (colMajor != null)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < nrhs; j++)
                    colMajor[(long)j * n + i] = b[i * nrhs + j];
        byte uplo = (byte)'U';
        int nn = n, nr = nrhs, lda = n, ldb = n, info = 0;
        fixed (T* pa = factor) fixed (T* pb0 = b) fixed (T* pbc = colMajor)
        {
            T* pb = colMajor != null ? pbc : pb0;
            if (typeof(T) == typeof(double)) Dpotrs(&uplo, &nn, &nr, (double*)pa, &lda, (double*)pb, &ldb, &info, 1);
            else if (typeof(T) == typeof(float)) Spotrs(&uplo, &nn, &nr, (float*)pa, &lda, (float*)pb, &ldb, &info, 1);
            else throw Unsupported<T>();
        }
        ThrowOnInfo(typeof(T) == typeof(double) ? "dpotrs_" : "spotrs_", info);
        if (colMajor != null)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < nrhs; j++)
                    b[i * nrhs + j] = colMajor[(long)j * n + i];
    }

    [LibraryImport(OpenBlas, EntryPoint = "dgetrf_")]
    private static partial void Dgetrf(int* m, int* n, double* a, int* lda, int* ipiv, int* info);

    [LibraryImport(OpenBlas, EntryPoint = "dgetrs_")]
    private static partial void Dgetrs(byte* trans, int* n, int* nrhs, double* a, int* lda, int* ipiv, double* b, int* ldb, int* info, nuint transLen);

    /// <summary>
    /// LU factorisation with partial pivoting (DGETRF) of the n x n matrix <paramref name="a"/>, in place. Read
    /// column-major, the row-major array is Aᵀ, so this factors Aᵀ = P L U (det Aᵀ = det A); <paramref name="pivots"/>
    /// gets LAPACK's 1-based row interchanges. Returns info: 0, or k &gt; 0 when U[k-1, k-1] is exactly zero. Serial
    /// (one OpenBLAS thread), so the factors do not depend on the thread count.
    /// </summary>
    public static int TryLu(int n, Span<double> a, Span<int> pivots)
    {
        CheckOrder(n);
        SpanChecks.Length(a.Length, (long)n * n, nameof(a), "n*n");
        SpanChecks.Length(pivots.Length, n, nameof(pivots), "n");
        if (n == 0) return 0;
        int nn = n, lda = n, info = 0;
        fixed (double* pa = a) fixed (int* pp = pivots)
        using (NativeThreads.EnterSerial())
            Dgetrf(&nn, &nn, pa, &lda, pp, &info);
        if (info < 0) ThrowOnInfo("dgetrf_", info);
        return info;
    }

    /// <summary>
    /// A⁻¹, row-major, into <paramref name="inverse"/> from the factors <see cref="TryLu"/> left of the row-major A (a
    /// factorisation of Aᵀ): DGETRS solves Aᵀ Y = I column-major, and Y = A⁻ᵀ read row-major is A⁻¹.
    /// </summary>
    public static void LuSolveIdentity(int n, ReadOnlySpan<double> lu, ReadOnlySpan<int> pivots, Span<double> inverse)
    {
        CheckOrder(n);
        SpanChecks.Length(lu.Length, (long)n * n, nameof(lu), "n*n");
        SpanChecks.Length(inverse.Length, (long)n * n, nameof(inverse), "n*n");
        if (n == 0) return;
        inverse[..(n * n)].Clear();
        for (int i = 0; i < n; i++) inverse[i * n + i] = 1;
        byte trans = (byte)'N';
        int nn = n, lda = n, ldb = n, info = 0;
        fixed (double* pa = lu) fixed (int* pp = pivots) fixed (double* pb = inverse)
        using (NativeThreads.EnterSerial())
            Dgetrs(&trans, &nn, &nn, pa, &lda, pp, pb, &ldb, &info, 1);
        ThrowOnInfo("dgetrs_", info);
    }

    private static void CheckOrder(int n)
    {
        if (n < 0) throw new ArgumentException($"matrix order n must be >= 0 but got {n}.", nameof(n));
    }

    // The queried size comes back as a floating-point number (rounded in single precision), so it is
    // never taken below LAPACK's documented minimum.
    private static int WorkspaceSize(double query, int n, bool vectors)
    {
        double minimum = vectors ? 1.0 + 6.0 * n + 2.0 * n * n : 2.0 * n + 1.0;
        double size = Math.Ceiling(Math.Max(double.IsFinite(query) ? query : 0, minimum));
        if (size > Array.MaxLength)
            throw new LapackException("xsyevd_", 0, $"xSYEVD workspace of {size} elements is too large for n = {n}.");
        return (int)size;
    }

    private static void ThrowOnInfo(string routine, int info)
    {
        if (info == 0) return;
        string message = info < 0
            ? $"{routine}: argument {-info} had an illegal value (a bug in the binding)."
            : $"{routine} failed with info = {info} (the algorithm did not converge).";
        throw new LapackException(routine, info, message);
    }

    private static NotSupportedException Unsupported<T>() =>
        new($"LAPACK bindings support float and double, not {typeof(T).Name}.");
}

/// <summary>A LAPACK routine reported failure through its INFO argument.</summary>
public sealed class LapackException : Exception
{
    public LapackException(string routine, int info, string message) : base(message)
    {
        Routine = routine;
        Info = info;
    }

    /// <summary>Fortran symbol of the routine, e.g. dpotrf_.</summary>
    public string Routine { get; }

    /// <summary>LAPACK's INFO: &lt; 0 illegal argument, &gt; 0 numerical failure.</summary>
    public int Info { get; }
}
